"""Layer: serving people, with no UI toolkit. The service with one method per user action
(`service`), the plotly figures and attention overlays (`figures`) and the desktop live window
(`live`). The web app in `webapp/` and any other front end sit on top of this."""
