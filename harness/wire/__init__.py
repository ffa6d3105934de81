"""Byte streams: one ``Stream`` protocol (``stream.py``) and its backends.

``blocking.py``  stdlib blocking sockets: the checks, the CLI's prefill and drain
``hub.py``       raw non-blocking sockets parked on gevent's hub: the Locust processes only
                 (imports gevent; never imported by the CLI, the runner or pytest plugins)
``mock.py``      scripted chunks for unit tests

Socket and ssl exceptions become classified ``TransportError``s in ``stream.classify`` and nowhere
else. The SMTP/POP3 engine on top of a stream is ``harness.session.Connection``.
"""
