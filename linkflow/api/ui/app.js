// LinkFlow's web UI: plain ES modules on the query API, no build step.
// Views: #/ (executions, filtered, refreshed live), #/e/<execution id> (graph coloured by
// node state, nodes with attempts, history timeline, input/output, signal/cancel/terminate/
// reset)
// and #/dlq (dead letters with their reasons, requeue).

const REFRESH_MS = 1500;
const NODE_FILL = {
  completed: "#dcfce7", running: "#dbeafe", scheduled: "#dbeafe", failed: "#fee2e2",
  timed_out: "#fee2e2", canceled: "#fef3c7", skipped: "#f3f4f6", none: "#ffffff",
};
const TERMINAL = new Set(["completed", "failed", "timed_out", "canceled", "terminated", "continued_as_new"]);

let timer = null;
let me = null; // GET /v1/whoami: the caller's role and permissions

async function whoami() {
  if (me === null) me = await api("/v1/whoami").catch(() => ({ permissions: [] }));
  return me;
}

const may = (permission) => me === null || me.permissions.includes(permission);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const TOKEN_KEY = "linkflow.token";

async function api(path, options = {}) {
  const headers = options.body ? { "Content-Type": "application/json" } : {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? `${body.error.message} (${body.error.code})` : response.statusText;
    throw new Error(`HTTP ${response.status}: ${message}`);
  }
  return body;
}

const enc = (id) => encodeURIComponent(id);
const badge = (status, prefix = "status") => el("span", { class: `badge ${prefix}-${status}`, "data-status": status }, status);
const time = (value) => (value ? new Date(value).toLocaleString() : "");
const json = (value) => (value === null || value === undefined ? "" : JSON.stringify(value, null, 2));

function live(text) {
  document.getElementById("live").textContent = text;
}

function schedule(fn) {
  clearTimeout(timer);
  timer = setTimeout(fn, REFRESH_MS);
}

// -- the executions list ------------------------------------------------------------------

async function listView(view, params) {
  const status = el("select", { id: "filter-status" },
    el("option", { value: "" }, "any status"),
    ...["running", "completed", "failed", "timed_out", "canceled", "terminated"].map((s) =>
      el("option", { value: s }, s)));
  status.value = params.get("status") || "";
  const workflow = el("input", { id: "filter-workflow", placeholder: "workflow id", value: params.get("workflow") || "" });
  const apply = () => {
    const next = new URLSearchParams();
    if (status.value) next.set("status", status.value);
    if (workflow.value) next.set("workflow", workflow.value);
    location.hash = `#/?${next}`;
  };
  status.addEventListener("change", apply);
  workflow.addEventListener("change", apply);
  const body = el("tbody");
  view.replaceChildren(
    el("h1", {}, "Executions"),
    el("div", { class: "filters" }, status, workflow, el("button", { onclick: apply }, "Filter")),
    el("table", { id: "executions" },
      el("thead", {}, el("tr", {}, ...["Execution", "Workflow", "Version", "Status", "Started", "Closed"].map((h) => el("th", {}, h)))),
      body),
  );
  const query = new URLSearchParams({ limit: "50" });
  if (params.get("status")) query.set("status", params.get("status"));
  if (params.get("workflow")) query.set("workflow_id", params.get("workflow"));
  const refresh = async () => {
    try {
      const page = await api(`/v1/executions?${query}`);
      body.replaceChildren(...page.executions.map((e) =>
        el("tr", { "data-execution": e.execution_id },
          el("td", {}, el("a", { href: `#/e/${enc(e.execution_id)}` }, e.execution_id)),
          el("td", {}, e.workflow_id), el("td", {}, e.workflow_version),
          el("td", {}, badge(e.status)), el("td", {}, time(e.started_at)), el("td", {}, time(e.closed_at)))));
      if (!page.executions.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no executions")));
      live(`updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      live(String(error.message));
    }
    schedule(refresh);
  };
  await refresh();
}

// -- one execution --------------------------------------------------------------------------

function layout(definition) {
  // Layered: each node one column right of the deepest node before it (back edges of
  // loops ignored), rows in definition order.
  const ids = definition.nodes.map((n) => n.id);
  const incoming = new Map(ids.map((id) => [id, []]));
  for (const edge of definition.edges) incoming.get(edge.target)?.push(edge.source);
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return -1; // a back edge
    visiting.add(id);
    const d = Math.max(-1, ...incoming.get(id).map(depthOf)) + 1;
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  ids.forEach(depthOf);
  const rows = new Map();
  const at = new Map();
  for (const id of ids) {
    const column = depth.get(id);
    const row = rows.get(column) || 0;
    rows.set(column, row + 1);
    at.set(id, { x: 20 + column * 170, y: 20 + row * 70 });
  }
  return at;
}

function nodeStates(nodes) {
  // One state per node id: the latest instance (loops and parallel run a node many times).
  const states = new Map();
  for (const node of nodes) {
    const previous = states.get(node.node_id);
    const runs = (previous ? previous.runs : 0) + 1;
    if (!previous || (node.updated_at || "") >= (previous.updated_at || "")) {
      states.set(node.node_id, { ...node, runs });
    } else {
      previous.runs = runs;
    }
  }
  return states;
}

function graph(definition, states) {
  const at = layout(definition);
  const width = Math.max(...[...at.values()].map((p) => p.x)) + 170;
  const height = Math.max(...[...at.values()].map((p) => p.y)) + 70;
  const root = svg("svg", { id: "graph", width, height, viewBox: `0 0 ${width} ${height}` },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" },
      svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#94a3b8" }))));
  for (const edge of definition.edges) {
    const a = at.get(edge.source), b = at.get(edge.target);
    if (!a || !b) continue;
    const [x1, y1, x2, y2] = [a.x + 130, a.y + 20, b.x, b.y + 20];
    root.append(svg("path", { class: "edge", d: `M ${x1} ${y1} C ${x1 + 20} ${y1}, ${x2 - 20} ${y2}, ${x2} ${y2}` }));
    if (edge.handle && edge.handle !== "success") {
      root.append(svg("text", { class: "edge-label", x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4 }, edge.handle));
    }
  }
  for (const node of definition.nodes) {
    const p = at.get(node.id);
    const state = states.get(node.id);
    const status = state ? state.status : "none";
    const attempt = state && state.attempt > 1 ? ` · attempt ${state.attempt}` : "";
    root.append(svg("g", { class: "node", "data-node": node.id, "data-status": status, transform: `translate(${p.x},${p.y})` },
      svg("title", {}, `${node.id} (${node.type}): ${status}${attempt}`),
      svg("rect", { width: 130, height: 40, fill: NODE_FILL[status] || "#fff" }),
      svg("text", { x: 65, y: 14 }, node.id),
      svg("text", { x: 65, y: 29, fill: "#64748b" }, `${node.type} · ${status}${attempt}`)));
  }
  return root;
}

function actions(execution, onDone) {
  const message = el("span", { id: "message", class: "muted" });
  const run = async (label, path, body) => {
    message.textContent = `${label}…`;
    try {
      const answer = await api(`/v1/executions/${enc(execution.execution_id)}/${path}`, { method: "POST", body: JSON.stringify(body) });
      message.textContent = `${label}: accepted${answer && answer.execution_visible === false ? " (not visible yet)" : ""}`;
      onDone();
    } catch (error) {
      message.textContent = `${label} failed: ${error.message}`;
    }
  };
  const name = el("input", { id: "signal-name", placeholder: "signal name" });
  const payload = el("textarea", { id: "signal-payload", placeholder: "payload (JSON)" });
  const reason = el("input", { id: "reason", placeholder: "reason" });
  const signal = () => {
    let value = null;
    try {
      value = payload.value.trim() ? JSON.parse(payload.value) : null;
    } catch (error) {
      message.textContent = `the payload is not JSON: ${error.message}`;
      return;
    }
    run("signal", "signal", { name: name.value, payload: value });
  };
  const open = !TERMINAL.has(execution.status);
  // Closed executions take no commands; a role that may not send one sees why.
  const state = (permission) => ({
    disabled: open && may(permission) ? null : "",
    title: may(permission) ? null : `your role (${me && me.role}) may not ${permission}`,
  });
  // Reset works on closed executions too: a new run goes on from the chosen event.
  const resetEvent = el("input", { id: "reset-event", type: "number", min: "1", placeholder: "event #", style: "width: 7em" });
  const reset = async () => {
    const eventId = parseInt(resetEvent.value, 10);
    if (!(eventId >= 1)) {
      message.textContent = "reset: give the event # to go on from (see the history below)";
      return;
    }
    if (open && !confirm("The running execution will be terminated. Reset it?")) return;
    message.textContent = "reset…";
    try {
      const answer = await api(`/v1/executions/${enc(execution.execution_id)}/reset`, {
        method: "POST", body: JSON.stringify({ event_id: eventId, reason: reason.value }),
      });
      location.hash = `#/e/${enc(answer.execution_id)}`;
    } catch (error) {
      message.textContent = `reset failed: ${error.message}`;
    }
  };
  return el("div", { class: "actions" },
    name, payload, el("button", { id: "send-signal", onclick: signal, ...state("signal") }, "Signal"),
    reason,
    el("button", { id: "cancel", onclick: () => run("cancel", "cancel", { reason: reason.value }), ...state("cancel") }, "Cancel"),
    el("button", { id: "terminate", class: "danger", onclick: () => confirm("Terminate this execution?") && run("terminate", "terminate", { reason: reason.value }), ...state("terminate") }, "Terminate"),
    resetEvent,
    el("button", {
      id: "reset", onclick: reset, disabled: may("reset") ? null : "",
      title: may("reset") ? "a new run that goes on from this event" : `your role (${me && me.role}) may not reset`,
    }, "Reset to event"),
    message);
}

async function history(executionId) {
  const events = [];
  let after = 0;
  while (after !== null) {
    const page = await api(`/v1/executions/${enc(executionId)}/history?after=${after}&limit=1000`);
    events.push(...page.events);
    after = page.next_after;
  }
  return events;
}

async function executionView(view, executionId) {
  const definitions = new Map();
  const refresh = async () => {
    let execution;
    try {
      execution = await api(`/v1/executions/${enc(executionId)}`);
    } catch (error) {
      view.replaceChildren(el("h1", {}, executionId), el("p", { id: "error" }, error.message));
      schedule(refresh);
      return;
    }
    const key = `${execution.workflow_id}:${execution.workflow_version}`;
    if (!definitions.has(key)) {
      const workflow = await api(`/v1/workflows/${enc(execution.workflow_id)}`).catch(() => null);
      const version = workflow && workflow.versions.find((v) => v.version === execution.workflow_version);
      definitions.set(key, version ? version.definition : null);
    }
    const definition = definitions.get(key);
    const events = await history(executionId);
    const states = nodeStates(execution.nodes);
    const types = new Map((definition ? definition.nodes : []).map((n) => [n.id, n.type]));
    const focused = document.activeElement && document.activeElement.id;
    const kept = view.querySelector(".actions");
    view.replaceChildren(
      el("h1", {}, execution.execution_id, " ", badge(execution.status)),
      el("div", { class: "summary" },
        el("span", { class: "muted" }, "workflow"), el("span", {}, `${execution.workflow_id} v${execution.workflow_version}`),
        el("span", { class: "muted" }, "started"), el("span", {}, time(execution.started_at)),
        el("span", { class: "muted" }, "closed"), el("span", {}, time(execution.closed_at) || "—"),
        execution.parent_execution_id ? [el("span", { class: "muted" }, "parent"), el("a", { href: `#/e/${enc(execution.parent_execution_id)}` }, execution.parent_execution_id)] : null,
        execution.close_reason ? [el("span", { class: "muted" }, "reason"), el("span", {}, execution.close_reason)] : null),
      kept && !TERMINAL.has(execution.status) ? kept : actions(execution, refresh),
      el("h2", {}, "Graph"),
      definition ? graph(definition, states) : el("p", { class: "muted" }, "definition not available"),
      el("h2", {}, "Nodes"),
      el("table", { id: "nodes" },
        el("thead", {}, el("tr", {}, ...["Node", "Scope", "Type", "Status", "Attempt", "Started", "Finished", "Error"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...execution.nodes.map((n) =>
          el("tr", { "data-node": n.node_id },
            el("td", {}, n.node_id), el("td", {}, n.scope), el("td", {}, n.node_type || types.get(n.node_id) || ""),
            el("td", {}, badge(n.status, "node")), el("td", {}, n.attempt || ""),
            el("td", {}, time(n.started_at)), el("td", {}, time(n.finished_at)),
            el("td", { class: "json" }, n.error ? `${n.error.type}: ${n.error.message}` : ""))))),
      el("div", { class: "panels" },
        el("div", {}, el("h2", {}, "Input"), el("pre", { id: "input" }, json(execution.input))),
        el("div", {}, el("h2", {}, "Output"), el("pre", { id: "output" }, json(execution.output))),
        execution.error ? el("div", {}, el("h2", {}, "Error"), el("pre", { id: "execution-error" }, json(execution.error))) : null),
      el("h2", {}, `History (${events.length} events)`),
      el("table", { id: "history" },
        el("thead", {}, el("tr", {}, ...["#", "Time", "Event", "Attributes"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...events.map((e) =>
          el("tr", { "data-event": e.event_type },
            el("td", {}, e.event_id), el("td", {}, time(e.event_time)), el("td", {}, e.event_type),
            el("td", { class: "json" }, JSON.stringify(e.attributes))))))
    );
    if (focused) document.getElementById(focused)?.focus();
    live(`updated ${new Date().toLocaleTimeString()}`);
    if (!TERMINAL.has(execution.status)) schedule(refresh);
  };
  await refresh();
}

// -- dead letters ---------------------------------------------------------------------------

async function dlqView(view, params) {
  const reason = el("input", { id: "filter-reason", placeholder: "reason", value: params.get("reason") || "" });
  const message = el("span", { id: "message", class: "muted" });
  const body = el("tbody");
  const total = el("span", { class: "muted" });
  reason.addEventListener("change", () => {
    location.hash = reason.value ? `#/dlq?reason=${encodeURIComponent(reason.value)}` : "#/dlq";
  });
  view.replaceChildren(
    el("h1", {}, "Dead letters"),
    el("p", { class: "muted" }, "Records of linkflow.dlq that could not be processed, newest first. Requeue sends one back to its source topic once the cause is fixed."),
    el("div", { class: "filters" }, reason, total, message),
    el("table", { id: "dead-letters" },
      el("thead", {}, el("tr", {}, ...["Ref", "Failed at", "Reason", "Source", "Key", "Detail", ""].map((h) => el("th", {}, h)))),
      body),
  );
  const load = async () => {
    const query = new URLSearchParams({ limit: "200" });
    if (params.get("reason")) query.set("reason", params.get("reason"));
    const page = await api(`/v1/dlq?${query}`);
    total.textContent = `${page.total} in all`;
    body.replaceChildren(...page.dead_letters.map((d) => {
      const requeue = async () => {
        message.textContent = `requeueing ${d.ref}…`;
        try {
          const answer = await api("/v1/dlq/requeue", { method: "POST", body: JSON.stringify({ refs: [d.ref] }) });
          message.textContent = `requeued ${answer.requeued} to ${answer.to[d.ref]}`;
          await load();
        } catch (error) {
          message.textContent = `requeue failed: ${error.message}`;
        }
      };
      return el("tr", { "data-ref": d.ref, "data-reason": d.reason },
        el("td", {}, d.ref), el("td", {}, d.failed_at_ms ? new Date(d.failed_at_ms).toLocaleString() : ""),
        el("td", {}, el("span", { class: "badge status-failed" }, d.reason)),
        el("td", {}, `${d.source.topic}[${d.source.partition}]@${d.source.offset}`),
        el("td", { class: "json" }, d.key || ""), el("td", { class: "json" }, d.detail || d.error_type || ""),
        el("td", {}, el("button", { class: "requeue", onclick: requeue, disabled: may("requeue") ? null : "", title: may("requeue") ? null : "your role may not requeue" }, "Requeue")));
    }));
    if (!page.dead_letters.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no dead letters")));
    live(`updated ${new Date().toLocaleTimeString()}`);
  };
  try {
    await load();
  } catch (error) {
    message.textContent = error.message;
  }
}

async function route() {
  clearTimeout(timer);
  const who = await whoami();
  document.getElementById("who").textContent = who.authenticated ? `${who.name} (${who.role})` : "";
  const view = document.getElementById("view");
  view.replaceChildren(); // nothing of another page (or another token's rights) is kept
  const hash = location.hash || "#/";
  if (hash.startsWith("#/e/")) {
    executionView(view, decodeURIComponent(hash.slice(4)));
  } else if (hash.startsWith("#/dlq")) {
    dlqView(view, new URLSearchParams(hash.split("?")[1] || ""));
  } else {
    listView(view, new URLSearchParams(hash.split("?")[1] || ""));
  }
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = document.getElementById("token");
  if (field.value) localStorage.setItem(TOKEN_KEY, field.value);
  else localStorage.removeItem(TOKEN_KEY);
  field.value = "";
  me = null;
  route();
});

window.addEventListener("hashchange", route);
route();
