"""{{name}}: a lazyhost plugin written in Python.

`run` is called once per target cluster. It counts the cluster's pods in
every namespace and returns the count as JSON.
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import kube_client


class WitWorld(wit_world.WitWorld):
    """The plugin world's export; componentize-py looks the class up by this name."""

    def run(self, cluster: str, args: list[tuple[str, str]]) -> str:
        options = kube_client.ListOptions(
            namespace=None,
            label_selector=None,
            field_selector=None,
            limit=None,
            continue_token=None,
        )
        try:
            pods = json.loads(kube_client.list(cluster, "pods", options))
        except Err as error:
            # error.value is a case of the WIT variant `error`, such as
            # Error_Denied, and carries the message in its `value`.
            raise Err(f"listing pods failed: {type(error.value).__name__}: {error.value.value}")

        count = len(pods.get("items") or [])
        print(f"{cluster}: {count} pods")
        return json.dumps({"cluster": cluster, "pods": count})
