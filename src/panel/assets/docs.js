// Starts the API reference (Swagger UI, served by the collector from its own
// node_modules) on this collector's /openapi.json. No validator badge: it
// would send the document to a server on the internet.
/* global SwaggerUIBundle */
window.addEventListener('DOMContentLoaded', function () {
  SwaggerUIBundle({
    url: 'openapi.json',
    dom_id: '#swagger-ui',
    validatorUrl: null,
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    tryItOutEnabled: false,
    withCredentials: false,
  });
});
