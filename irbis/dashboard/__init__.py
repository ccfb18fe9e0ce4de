"""Survey dashboard and review (served by ``irbis serve`` at ``/`` or alone by ``irbis dashboard``),
fed live by a folder watcher (``irbis watch``).

index.py: SQLite index of surveys, photos, detections, sites, corrections; queries.py: the views
in SQL; sources.py: results files and service jobs; thumbs.py: thumbnails (people blurred);
basemap.py: offline country outlines; app.py: HTTP routes; watcher.py: the folder watcher.
"""
