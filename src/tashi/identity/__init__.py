"""Who is who, and who may do what: users and their tokens (:mod:`~tashi.identity.users`),
user sources besides Tashi's own table (:mod:`~tashi.identity.sources`), login and join
rate limits (:mod:`~tashi.identity.loginlimit`), the cluster's join token
(:mod:`~tashi.identity.jointokens`), and access checks (:mod:`~tashi.identity.access`).

Below the lifecycle controllers of :mod:`tashi.manager`, beside them in the manager
process: it reads and writes the store, never the API.
"""
