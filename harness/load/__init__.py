"""Load testing (``mailharness load``): profiles, shapes, HDR statistics, Locust users.

Import map (docs/architecture.md, the Locust process boundary): ``profile``, ``shapes``,
``stats``, ``clients``, ``verdicts`` and ``run`` never import locust or gevent
and are safe in the CLI and in pytest. ``locustfile``, ``locust_shape``,
``runtime`` and ``webui`` are loaded only inside the Locust processes that
``run`` starts.
"""

__all__: list[str] = []
