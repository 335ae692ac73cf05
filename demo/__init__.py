"""The demo seed (``manage.py seed_demo``): it imports every app, and nothing imports it."""
