"""A Streamlit browser session spoken from Python: the app's websocket protocol (protobuf BackMsg / ForwardMsg,
as Streamlit's own frontend speaks it), for tests and load benchmarks that need many sessions but no Chromium.

What it does as a browser tab would: runs a page, keeps the elements the server sends, sets widget values
(each rerun carries every value set so far, as the frontend does), and reruns the page's `run_every`
fragments on the server's schedule. What it does not: render, run component iframes (the caller speaks a
component's protocol itself through `component` and `set_value`), or use Streamlit's message cache.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable


class StreamlitSession:
    """One browser session of the app at `url` (http://host:port), on page `page_name` (its URL path)."""

    def __init__(self, url: str, page_name: str = "") -> None:
        self.ws_url = url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"
        self.page_name = page_name
        self.elements: dict[tuple[int, ...], Any] = {}  # delta path -> Element (the newest at each place)
        self.values: dict[str, Any] = {}  # widget id -> WidgetState, sent with every rerun
        self.page_script_hash = ""
        self.script_runs = 0  # script_finished messages received
        self._fragments: dict[str, float] = {}  # fragment id -> auto-rerun interval (s)
        self._tasks: list[asyncio.Task] = []
        self._ws = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> "StreamlitSession":
        import websockets

        self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None)
        self._tasks.append(asyncio.create_task(self._read()))
        await self.rerun()
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks:
            task.cancel()
        await self._ws.close()

    async def rerun(self, fragment_id: str = "", auto: bool = False) -> None:
        """Ask for a run of the page (or of one fragment) with every widget value set so far."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.page_name = self.page_name
        state.page_script_hash = self.page_script_hash
        state.fragment_id = fragment_id
        state.is_auto_rerun = auto
        state.widget_states.widgets.extend(self.values.values())
        await self._ws.send(msg.SerializeToString())

    async def set_value(self, widget_id: str, **value: Any) -> None:
        """Set a widget's value (e.g. string_value="...", json_value=json.dumps(...)) and rerun, as a click does."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState(id=widget_id)
        for field, v in value.items():
            setattr(state, field, v)
        self.values[widget_id] = state
        await self.rerun()

    async def wait_for(self, find: Callable[["StreamlitSession"], Any], timeout: float = 60) -> Any:
        """The first truthy `find(self)`, re-checked after every message from the server; TimeoutError if none."""
        deadline = time.monotonic() + timeout
        while not (found := find(self)):
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no such element on {self.page_name or 'the home page'} within {timeout} s; "
                                   f"texts: {self.texts()[:20]}")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return found

    # What the page shows --------------------------------------------------------------------------------------
    def widget(self, kind: str, label: str):
        """The newest element of `kind` (e.g. "radio", "button") with `label`, or None."""
        return self._newest(kind, lambda widget: widget.label == label)

    def component(self, name_part: str):
        """The newest custom component whose name contains `name_part`, or None; its args: json.loads(.json_args)."""
        return self._newest("component_instance", lambda component: name_part in component.component_name)

    def metric(self, label: str) -> str | None:
        """The value shown by the metric `label` (e.g. "FPS"), or None."""
        metric = self._newest("metric", lambda metric: metric.label == label)
        return metric.body if metric is not None else None

    def _newest(self, kind: str, match: Callable[[Any], bool]):
        """The newest element of `kind` (its proto, e.g. Radio) for which `match` holds, or None."""
        for element in reversed(list(self.elements.values())):
            if element.WhichOneof("type") == kind and match(getattr(element, kind)):
                return getattr(element, kind)
        return None

    def texts(self) -> list[str]:
        """Markdown, alerts and captions on the page (for messages and errors)."""
        out = []
        for element in self.elements.values():
            kind = element.WhichOneof("type")
            if kind in ("markdown", "alert"):
                out.append(getattr(element, kind).body)
            elif kind == "exception":
                out.append(f"{element.exception.type}: {element.exception.message}")
        return out

    # The server's messages ------------------------------------------------------------------------------------
    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        async for data in self._ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.page_script_hash = msg.new_session.page_script_hash
            elif kind == "navigation":
                self.page_script_hash = msg.navigation.page_script_hash or self.page_script_hash
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self.elements[tuple(msg.metadata.delta_path)] = msg.delta.new_element
            elif kind == "script_finished":
                self.script_runs += 1
            elif kind == "auto_rerun":
                fragment, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
                if fragment not in self._fragments:
                    self._tasks.append(asyncio.create_task(self._auto_rerun(fragment)))
                self._fragments[fragment] = interval
            elif kind == "stop_auto_rerun":
                for fragment in msg.stop_auto_rerun.fragment_ids:
                    self._fragments.pop(fragment, None)
            self._changed.set()

    async def _auto_rerun(self, fragment_id: str) -> None:
        """Rerun a `run_every` fragment on its interval while the server keeps asking (as the frontend's timer)."""
        while fragment_id in self._fragments:
            await asyncio.sleep(self._fragments[fragment_id])
            if fragment_id in self._fragments:
                await self.rerun(fragment_id, auto=True)


def component_args(component) -> dict:
    """A custom component's arguments as the server sent them."""
    return json.loads(component.json_args or "{}")
