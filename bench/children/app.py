"""The Flask app served by Gunicorn in the rolling-restart workload."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from corral's benchmark\n"
