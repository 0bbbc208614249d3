// ao dashboard: the sessions live over server-sent events (/api/events), actions through the
// JSON API. No framework: the page is small, and everything is built with textContent, so nothing
// a session says is ever read as HTML.
"use strict";

// The dashboard's token comes in the address the page was opened at (`#token=…`, or `?token=…`),
// is kept in this tab's sessionStorage (so a reload keeps it) and leaves the address bar at once.
// It goes out as `Authorization: Bearer` on every request, the event stream included; never as a
// cookie, which the browser would also send to every other port of 127.0.0.1.
function takeToken() {
  const given = new URLSearchParams(location.hash.slice(1)).get("token")
    || new URLSearchParams(location.search).get("token");
  if (given) {
    sessionStorage.setItem("ao-dashboard-token", given);
    history.replaceState(null, "", "/");
  }
  return given;
}
const token = (() => {
  takeToken();
  return sessionStorage.getItem("ao-dashboard-token");
})();
// The URL pasted into a tab that shows the page already only changes its fragment: the page is
// not loaded again by the browser, so it is here, with the new token.
window.addEventListener("hashchange", () => {
  if (takeToken()) location.reload();
});

// fetch, with the token.
function api(path, options) {
  const o = Object.assign({ cache: "no-store" }, options);
  o.headers = Object.assign({}, o.headers);
  if (token) o.headers.Authorization = "Bearer " + token;
  return fetch(path, o);
}

const sessions = new Map(); // id -> the session's JSON, as `ao status --json` says it
let selected = null; // the id shown in the detail
let entries = []; // the selected session's conversation
let logsWanted = false; // a read of the conversation is due
let logsReading = false;
// How long each change took from the dashboard learning it to the page showing it (ms), the last
// 500: scripts/bench reads it.
window.aoLatency = [];

const GROUPS = {
  waiting_input: "waiting",
  blocked: "blocked",
  active: "working",
  ready: "done",
  idle: "done",
  exited: "exited",
};

const $ = (id) => document.getElementById(id);

// What an agent wrote (a title, a message, a tool's output) may hold characters that steer how
// text shows rather than show themselves: a right-to-left override (U+202E) reverses what follows,
// a carriage return hides what came before it where the text is copied to a terminal. They show
// as escapes (`\r`, `\x1b`, `\u{202e}`), as in the CLI (ao_core::visible); line ends and tabs stay.
const STEERING = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
function visible(text) {
  return text.replace(/\r\n/g, "\n").replace(STEERING, (c) => {
    const n = c.codePointAt(0);
    if (c === "\r") return "\\r";
    return n < 0x80 ? "\\x" + n.toString(16).padStart(2, "0") : "\\u{" + n.toString(16) + "}";
  });
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(typeof c === "string" ? document.createTextNode(visible(c)) : c);
  }
  return e;
}

// The same as the CLI: $0.42, or up to six decimals below a cent.
function dollars(x) {
  // null: the agent reports no cost, and ao shows no figure for it.
  if (x === null || x === undefined) return "-";
  if (x === 0 || Math.abs(x) >= 0.01) return "$" + x.toFixed(2);
  return "$" + x.toFixed(6).replace(/0+$/, "");
}

// The same as the CLI: 12s, 3m, 30h (up to two days), 2d.
function age(since) {
  const t = Date.parse(since);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.floor((Date.now() - t) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m";
  if (s < 48 * 3600) return Math.floor(s / 3600) + "h";
  return Math.floor(s / 86400) + "d";
}

function tokensIn(t) {
  if (!t) return null;
  return (t.input || 0) + (t.cache_read || 0) + (t.cache_write || 0);
}
function tokensOut(t) {
  if (!t) return null;
  return (t.output || 0) + (t.reasoning || 0);
}
function count(n) {
  // null: the agent's reports do not add up to what it spent, and ao shows no figure.
  if (n === null || n === undefined) return "-";
  return n >= 10000 ? Math.round(n / 1000) + "k" : String(n);
}

// ---- the list ----

function card(s) {
  const pending = (s.pending || []).map((p) =>
    el("div", { class: "pending-line" }, (p.kind === "permission" ? "permission: " : "question: ") + p.title));
  return el("article", {
      class: "session",
      "data-id": s.id,
      "data-activity": s.activity,
      tabindex: "0",
      onclick: () => select(s.id),
      onkeydown: (e) => { if (e.key === "Enter") select(s.id); },
    },
    el("div", { class: "row" },
      el("span", { class: "name" }, s.id),
      el("span", { class: "activity", "data-activity": s.activity }, s.activity.replace("_", " ")),
      el("span", { class: "age", "data-since": s.activity_since || "" }, age(s.activity_since || "")),
      s.stale ? el("span", { class: "stale", title: "the agent's server did not answer in time; this is the last it said" }, "stale") : null),
    el("div", { class: "row facts" },
      el("span", { class: "cost", "data-cost": String(s.cost_usd) }, dollars(s.cost_usd)),
      el("span", { class: "tokens" }, count(tokensIn(s.tokens)) + " in / " + count(tokensOut(s.tokens)) + " out"),
      el("span", { class: "agent", title: "the agent" }, s.agent),
      el("span", { class: "model" }, s.model || ""),
      el("span", { class: "process" }, s.process)),
    s.summary ? el("div", { class: "summary" }, s.summary) : null,
    s.error ? el("div", { class: "error" }, s.error.name + ": " + s.error.message) : null,
    ...pending);
}

// Each session's card, made again only when the session changed, so that a change re-draws one
// card (and a card a person is about to click stays the same element).
const cards = new Map(); // id -> { key, element }

function cardOf(s) {
  const key = JSON.stringify(s);
  const known = cards.get(s.id);
  if (known && known.key === key) return known.element;
  const element = card(s);
  cards.set(s.id, { key, element });
  return element;
}

function renderList() {
  for (const id of cards.keys()) if (!sessions.has(id)) cards.delete(id);
  const byGroup = {};
  // The order of `ao status`: project, then creation, then name.
  const order = (a, b) =>
    a.project.localeCompare(b.project) || a.created_at.localeCompare(b.created_at) || a.name.localeCompare(b.name);
  for (const s of [...sessions.values()].sort(order)) {
    (byGroup[GROUPS[s.activity] || "exited"] ||= []).push(s);
  }
  for (const section of document.querySelectorAll("section.group")) {
    const list = byGroup[section.dataset.group] || [];
    section.hidden = list.length === 0;
    const holder = section.querySelector(".cards");
    const wanted = list.map(cardOf);
    const now = [...holder.children];
    if (wanted.length !== now.length || wanted.some((e, i) => e !== now[i])) {
      holder.replaceChildren(...wanted);
    }
  }
  $("empty").hidden = sessions.size > 0;
  renderTotals();
  for (const c of document.querySelectorAll("article.session")) {
    c.classList.toggle("selected", c.dataset.id === selected);
  }
}

function renderTotals() {
  const projects = new Map();
  for (const s of sessions.values()) {
    // A sum turns null ("-") once any session of the project reports none: the known figures
    // alone would add up to too low a total.
    const p = projects.get(s.project) || { n: 0, live: 0, tin: 0, tout: 0, cost: 0 };
    p.n += 1;
    if (s.activity !== "exited") p.live += 1;
    const known = (sum, x) => (sum === null || x === null || x === undefined ? null : sum + x);
    p.tin = known(p.tin, s.tokens ? tokensIn(s.tokens) : null);
    p.tout = known(p.tout, s.tokens ? tokensOut(s.tokens) : null);
    p.cost = known(p.cost, s.cost_usd);
    projects.set(s.project, p);
  }
  const rows = [...projects.entries()].sort().map(([name, p]) =>
    el("tr", { "data-project": name },
      el("td", {}, name),
      el("td", {}, p.live + (p.live === p.n ? "" : " of " + p.n)),
      el("td", {}, count(p.tin) + " / " + count(p.tout)),
      el("td", { class: "cost", "data-cost": String(p.cost) }, dollars(p.cost))));
  $("totals").querySelector("tbody").replaceChildren(...rows);
  $("totals-section").hidden = projects.size === 0;
}

function tickAges() {
  for (const a of document.querySelectorAll(".age[data-since]")) {
    a.textContent = age(a.dataset.since);
  }
}

// ---- the detail ----

function select(id) {
  if (selected !== id) {
    selected = id;
    entries = [];
    $("conversation").replaceChildren();
    $("kill-confirm").hidden = true;
  }
  renderDetail();
  renderList();
  readLogs();
}

function closeDetail() {
  selected = null;
  $("detail").hidden = true;
  document.body.classList.remove("detail-open");
  renderList();
}

function renderDetail() {
  const s = selected && sessions.get(selected);
  const d = $("detail");
  if (!s) {
    if (selected) {
      $("detail-activity").textContent = "gone";
    }
    return;
  }
  d.hidden = false;
  d.dataset.id = s.id;
  d.dataset.activity = s.activity;
  document.body.classList.add("detail-open");
  $("detail-title").textContent = s.id;
  const act = $("detail-activity");
  act.textContent = s.activity.replace("_", " ") + (s.activity_since ? " for " + age(s.activity_since) : "");
  act.dataset.activity = s.activity;
  const facts = [
    ["cost", dollars(s.cost_usd)],
    ["tokens", count(tokensIn(s.tokens)) + " in / " + count(tokensOut(s.tokens)) + " out"],
    ["agent", s.agent],
    ["model", s.model || "—"],
    ["process", s.process + " (" + s.runtime + ")"],
    ["session", s.agent_session_id || "—"],
    ["summary", s.summary || "—"],
  ];
  if (s.branch) facts.push(["branch", s.branch]);
  if (s.files_changed !== undefined && s.files_changed !== null) facts.push(["files changed", String(s.files_changed)]);
  if (s.todos) facts.push(["plan", s.todos.done + " of " + s.todos.total + " done"]);
  $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k }, v)]));
  const err = $("detail-error");
  err.hidden = !s.error;
  err.textContent = s.error ? visible(s.error.name + ": " + s.error.message) : "";
  $("attach-cmd").textContent = "ao attach " + s.id;
  // Made again only when the requests changed: a button about to be clicked stays.
  const pendingKey = s.id + JSON.stringify(s.pending || []);
  if ($("pending").dataset.key !== pendingKey) {
    $("pending").dataset.key = pendingKey;
    $("pending").replaceChildren(...(s.pending || []).map((p) => pendingBox(s, p)));
  }
  const exited = s.activity === "exited";
  $("restore").hidden = !exited;
  $("kill").hidden = exited;
  $("send-form").hidden = exited;
}

function pendingBox(s, p) {
  if (p.kind === "permission") {
    const permit = (decision) => act(s.id, "permit", { decision, request: p.id });
    return el("div", { class: "request", "data-request": p.id, "data-kind": "permission" },
      el("p", {}, el("strong", {}, "Permission: "), p.title),
      el("div", { class: "buttons" },
        el("button", { type: "button", "data-permit": "once", onclick: () => permit("once") }, "Allow once"),
        el("button", { type: "button", "data-permit": "always", onclick: () => permit("always") }, "Allow always"),
        el("button", { type: "button", class: "danger", "data-permit": "reject", onclick: () => permit("reject") }, "Reject")));
  }
  const questions = p.questions || [];
  const box = el("div", { class: "request", "data-request": p.id, "data-kind": "question" },
    el("p", {}, el("strong", {}, "Question: "), p.title));
  // One question: an option is the whole answer. Several: each needs one, typed or picked.
  if (questions.length <= 1) {
    const q = questions[0] || { question: p.title, options: [] };
    if (q.question !== p.title) box.append(el("p", {}, q.question));
    box.append(el("div", { class: "buttons options" }, ...q.options.map((o) =>
      el("button", { type: "button", "data-option": o, onclick: () => act(s.id, "answer", { answers: [o], request: p.id }) }, o))));
    const text = el("input", { type: "text", class: "answer-text", placeholder: "or answer in words" });
    box.append(el("form", {
        class: "answer-form",
        onsubmit: (e) => {
          e.preventDefault();
          if (text.value.trim()) act(s.id, "answer", { answers: [text.value], request: p.id });
        },
      }, text, el("button", { type: "submit" }, "Answer")));
  } else {
    const inputs = questions.map((q, i) => {
      const input = el("input", { type: "text", list: "q-" + p.id + "-" + i, placeholder: q.options.join(" / ") });
      box.append(el("label", {}, q.question, input,
        el("datalist", { id: "q-" + p.id + "-" + i }, ...q.options.map((o) => el("option", { value: o })))));
      return input;
    });
    box.append(el("button", { type: "button", onclick: () => act(s.id, "answer", { answers: inputs.map((i) => i.value), request: p.id }) }, "Answer"));
  }
  box.append(el("button", { type: "button", class: "plain", onclick: () => act(s.id, "answer", { reject: true, request: p.id }) }, "Dismiss"));
  return box;
}

function entryView(e) {
  const time = new Date(e.at).toLocaleTimeString();
  const head = (who) => el("span", { class: "who" }, time + " " + who);
  switch (e.type) {
    case "user":
      return el("li", { class: "entry user", "data-type": "user" }, head("you"), el("pre", {}, e.text));
    case "assistant":
      return el("li", { class: "entry assistant", "data-type": "assistant" }, head("agent"), el("pre", {}, e.text));
    case "tool":
      return el("li", { class: "entry tool", "data-type": "tool", "data-status": e.status },
        head("tool " + e.tool), el("span", { class: "tool-status" }, "[" + e.status + "]"), " ", e.title,
        e.output ? el("pre", { class: "output" }, e.output + (e.truncated ? "\n… (cut)" : "")) : null);
    case "step":
      return el("li", { class: "entry step", "data-type": "step" },
        head("step " + e.reason), " " + count(tokensIn(e.tokens)) + " in, " + count(tokensOut(e.tokens)) + " out, " + dollars(e.cost_usd));
    case "error":
      return el("li", { class: "entry error", "data-type": "error" }, head("error"), " " + e.name + ": " + e.message);
    default:
      return el("li", { class: "entry" }, head(e.type));
  }
}

// The conversation is read again when the session changes; one read at a time, the last wins.
async function readLogs() {
  if (!selected) return;
  logsWanted = true;
  if (logsReading) return;
  logsReading = true;
  try {
    while (logsWanted && selected) {
      logsWanted = false;
      const id = selected;
      const r = await api("/api/sessions/" + id.split("/").map(encodeURIComponent).join("/") + "/logs");
      const body = await r.json().catch(() => ({ error: "unreadable answer" }));
      if (id !== selected) continue;
      if (!r.ok) {
        $("conversation").replaceChildren(el("li", { class: "entry error" }, body.error || r.statusText));
        continue;
      }
      entries = body;
      const list = $("conversation");
      const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.replaceChildren(...entries.map(entryView));
      if (atEnd) list.scrollTop = list.scrollHeight;
    }
  } finally {
    logsReading = false;
  }
}

// ---- actions ----

let noticeTimer = null;

// What the last action said; a success fades after a while, an error stays until the next.
function notice(text, isError) {
  const n = $("notice");
  n.hidden = false;
  n.textContent = text;
  n.classList.toggle("error", !!isError);
  clearTimeout(noticeTimer);
  if (!isError) noticeTimer = setTimeout(() => { n.hidden = true; }, 20000);
}

async function post(path, body) {
  const r = await api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const answer = await r.json().catch(() => ({ error: r.status + " " + r.statusText }));
  notice(answer.error || answer.message || r.statusText, !r.ok);
  return r.ok ? answer : null;
}

function act(id, action, body) {
  return post("/api/sessions/" + id.split("/").map(encodeURIComponent).join("/") + "/" + action, body);
}

function wire() {
  $("detail-close").onclick = closeDetail;
  $("copy-attach").onclick = async () => {
    const text = $("attach-cmd").textContent;
    try {
      await navigator.clipboard.writeText(text);
      notice("copied: " + text);
    } catch {
      const range = document.createRange();
      range.selectNodeContents($("attach-cmd"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      notice("selected: copy it with Ctrl-C");
    }
  };
  $("send-form").onsubmit = async (e) => {
    e.preventDefault();
    const text = $("send-text").value;
    if (!text.trim() || !selected) return;
    if (await act(selected, "send", { message: text })) $("send-text").value = "";
  };
  $("kill").onclick = () => { $("kill-confirm").hidden = false; };
  $("kill-no").onclick = () => { $("kill-confirm").hidden = true; };
  $("kill-yes").onclick = async () => {
    $("kill-confirm").hidden = true;
    if (selected) await act(selected, "kill", {});
  };
  $("restore").onclick = () => selected && act(selected, "restore");
  $("spawn-open").onclick = async () => {
    $("spawn-form").hidden = false;
    await readProjects();
    $("spawn-project").focus();
  };
  $("spawn-cancel").onclick = () => { $("spawn-form").hidden = true; };
  $("spawn-form").onsubmit = async (e) => {
    e.preventDefault();
    const body = { project: $("spawn-project").value, prompt: $("spawn-prompt").value };
    if ($("spawn-runtime").value) body.runtime = $("spawn-runtime").value;
    $("spawn-submit").disabled = true;
    notice("spawning a session in " + body.project + "…");
    try {
      const done = await post("/api/sessions", body);
      if (done) {
        $("spawn-form").hidden = true;
        $("spawn-prompt").value = "";
        select(done.id);
      }
    } finally {
      $("spawn-submit").disabled = false;
    }
  };
}

// The config's projects, for the spawn form (read when it opens: the config may have changed).
async function readProjects() {
  const r = await api("/api/projects");
  if (!r.ok) return;
  const list = await r.json();
  const pick = $("spawn-project");
  const was = pick.value;
  pick.replaceChildren(...list.map((p) =>
    el("option", { value: p.name }, p.name + " (" + p.runtime + (p.model ? ", " + p.model : "") + ")")));
  if (list.some((p) => p.name === was)) pick.value = was;
}

// ---- the event stream ----

// The stream is read with fetch, not EventSource, which cannot send the token in a header; it is
// parsed here as EventSource would (event, data, id; a line starting with ':' is a keep-alive).
function connect() {
  const conn = $("conn");
  const handlers = {};
  const events = { addEventListener: (name, f) => { handlers[name] = f; } };
  const state = (s, text) => {
    conn.dataset.state = s;
    conn.textContent = text;
  };
  const shown = (e) => {
    const at = Number(e.lastEventId);
    if (at > 0) {
      // Measured once the browser has laid the change out.
      requestAnimationFrame(() => {
        window.aoLatency.push(Date.now() - at);
        if (window.aoLatency.length > 500) window.aoLatency.shift();
      });
    }
  };
  const dispatch = (block) => {
    let name = "message";
    const data = [];
    let lastEventId = "";
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
      else if (field === "id") lastEventId = value;
    }
    if (data.length && handlers[name]) handlers[name]({ data: data.join("\n"), lastEventId });
  };
  const again = () => {
    // The snapshot the next stream starts with replaces everything.
    state("reconnecting", "reconnecting…");
    setTimeout(follow, 1000);
  };
  const follow = async () => {
    let r;
    try {
      r = await api("/api/events", { headers: { Accept: "text/event-stream" } });
    } catch {
      return again();
    }
    if (r.status === 401 || r.status === 403) {
      // Trying again cannot help: the token is wrong (or none), or the address is not one the
      // dashboard answers at.
      const body = await r.json().catch(() => ({}));
      state("refused", "no access");
      notice(body.error || r.status + " " + r.statusText, true);
      return;
    }
    if (!r.ok || !r.body) return again();
    state("live", "live");
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      // The connection broke: as when it ends.
    }
    again();
  };
  events.addEventListener("snapshot", (e) => {
    sessions.clear();
    for (const s of JSON.parse(e.data)) sessions.set(s.id, s);
    renderList();
    renderDetail();
    if (selected) readLogs();
  });
  events.addEventListener("session", (e) => {
    const s = JSON.parse(e.data);
    sessions.set(s.id, s);
    renderList();
    if (s.id === selected) {
      renderDetail();
      readLogs();
    }
    shown(e);
  });
  events.addEventListener("removed", (e) => {
    const { id } = JSON.parse(e.data);
    sessions.delete(id);
    renderList();
    if (id === selected) closeDetail();
    shown(e);
  });
  events.addEventListener("config", (e) => {
    const c = JSON.parse(e.data);
    const banner = $("config-notice");
    banner.hidden = !c.invalid;
    banner.textContent = c.invalid ? "The config file no longer reads; the dashboard goes on with the one before:\n" + c.invalid : "";
    if (c.reloaded) notice("the config file was read again");
  });
  follow();
}

wire();
connect();
setInterval(() => {
  tickAges();
  if (selected && sessions.get(selected)) {
    const s = sessions.get(selected);
    $("detail-activity").textContent = s.activity.replace("_", " ") + (s.activity_since ? " for " + age(s.activity_since) : "");
  }
}, 1000);
