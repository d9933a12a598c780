"""Credentials kept encrypted at rest and resolved only in workers (README, Credentials):
the Laravel-compatible cipher (`laravel`), the records of the `linkflow.credentials` topic
(`records`), the worker's view of that topic (`follower`) and the scrubbing of secret
values out of what an activity reports (`redact`)."""
