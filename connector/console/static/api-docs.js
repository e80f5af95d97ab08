// Renders the node's OpenAPI document with the vendored Swagger UI (no request leaves the node).
"use strict";
window.addEventListener("load", () => {
  const target = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: target.dataset.spec,
    domNode: target,
    deepLinking: true,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
  });
});
