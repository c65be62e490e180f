"""One router per resource: pages, catalog, surface, runs, datasets, stream (websocket)."""
