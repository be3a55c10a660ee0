"""The routers that `app.main.create_app` includes: the API, the pages and the vendored assets."""
