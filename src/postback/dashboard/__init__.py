"""The dashboard: server-rendered pages behind a sign-in, mounted at / beside the admin API.

Pages are Jinja2 templates (templates/), our own CSS and JS (static/, served by us), charts
drawn on the server as SVG (charts.py). Every page module is a router listed in routers.py; a
page's link in the navigation appears once its path is routed (nav.py).
"""
