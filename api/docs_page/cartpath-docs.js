// Starts Swagger UI on the document this server serves; a file of its own (not an inline script)
// so that the page's Content-Security-Policy can allow scripts from this server only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,  // the default validator is a third-party service: nothing leaves the page
  });
});
