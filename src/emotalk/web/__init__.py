"""The web demo and HTTP API (`emotalk serve`): FastAPI app (`app`), job queue (`jobs`), uploads (`uploads`)."""
