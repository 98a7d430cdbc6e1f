// Starts Swagger UI on /docs (app/routes/docs.py) from a file, so the page needs no inline script.
// validatorUrl null: Swagger UI would otherwise send the schema to an outside validator service.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
