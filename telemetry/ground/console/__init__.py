"""The ground station's web console (``rig-ground serve``) and its user file (``rig-ground user``).

Modules: ``users`` (user file, scrypt hashes, roles), ``sessions`` (signed
cookies, CSRF), ``views`` (JSON views of the fleet model), ``hub`` (WebSocket
fan-out), ``replay`` (recordings played back at a chosen speed), ``pages``
and ``api`` (the HTTP endpoints), ``app`` (assembly), ``serve`` and
``user_cli`` (the subcommands). Front-end assets live in ``static/``
(uPlot vendored, see ``static/VENDORED.txt``).
"""

__all__: list[str] = []
