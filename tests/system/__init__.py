"""Suites that start whole stacks: faults under load, the cluster, serving, deployment, hostile
input and schema fuzzing. They talk to the site through HTTP like a client."""
