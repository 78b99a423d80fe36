"""The WSGI application gunicorn serves (`cartpath serve` deployed the bundled processes already)."""
from cartpath.api import create_app

application = create_app({"DEPLOY_BUNDLED": False})
