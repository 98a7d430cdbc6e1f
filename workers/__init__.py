"""The Celery side: the tasks (`tasks.py`), the job bodies they run (`jobs.py`), the run's bookkeeping (`runner.py`)."""
