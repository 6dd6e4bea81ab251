"""The web app of dcgan_tf.serve: its page (index.html, shipped as package data), its
request contract (api.py) and its HTTP server (server.py)."""
