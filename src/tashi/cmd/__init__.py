"""The process entry points, above every other layer: each reads its settings (flags,
``TASHI_*`` variables), sets up logging, runs its service, and turns expected errors
into one line and an exit code (:mod:`~tashi.cmd.errors`).

* :mod:`~tashi.cmd.cli` — ``tashi``, the command line (its groups in :mod:`tashi.cli`);
* :mod:`~tashi.cmd.manager` — ``tashi-manager``, the REST API over the store;
* :mod:`~tashi.cmd.agent` — ``tashi-agent``, the node agent of one host;
* :mod:`~tashi.cmd.scheduler` — ``tashi-scheduler``, placing Pending instances.

Nothing else of ours imports this package.
"""
