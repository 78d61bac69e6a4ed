"""HTTP routes (Powertools Routers) shared by the API functions, and the OpenAPI document."""
