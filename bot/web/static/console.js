// The agent console's live parts: new messages, the status, the queue, canned replies.
// Text is always set with textContent, never innerHTML: customer text is shown, not run.
(() => {
  "use strict";
  const page = document.body.dataset;
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const canned = document.getElementById("canned"), reply = document.getElementById("reply-text");
  if (canned && reply) canned.addEventListener("change", () => {
    const chosen = canned.selectedOptions[0];
    if (chosen && chosen.dataset.text) { reply.value = chosen.dataset.text; reply.focus(); }
  });

  // "/" in the reply box searches the canned replies by title and text: arrows pick, Enter or Tab puts the
  // reply in place of the "/words", Escape closes. The picker above still works without a keyboard.
  if (canned && reply) {
    const replies = [...canned.options].filter(o => o.dataset.text).map(o => ({ title: o.value, text: o.dataset.text }));
    const list = el("ul", "canned-suggest");
    list.id = "canned-suggest"; list.setAttribute("role", "listbox"); list.hidden = true;
    reply.after(list);
    let shown = [], at = 0;
    const token = () => {  // the "/words" just before the cursor, at the start or after a space
      const before = reply.value.slice(0, reply.selectionStart);
      const m = before.match(/(?:^|\s)\/([^\s/][^/]*|)$/);
      return m ? { query: m[1].toLowerCase(), start: before.length - m[1].length - 1 } : null;
    };
    const close = () => { list.hidden = true; shown = []; };
    const put = choice => {
      const t = token();
      if (!t) return close();
      const end = reply.selectionStart;
      reply.value = reply.value.slice(0, t.start) + choice.text + reply.value.slice(end);
      reply.selectionStart = reply.selectionEnd = t.start + choice.text.length;
      close(); reply.focus();
    };
    const draw = () => {
      list.replaceChildren(...shown.map((r, i) => {
        const item = el("li", i === at ? "active" : "", r.title);
        item.setAttribute("role", "option"); item.setAttribute("aria-selected", String(i === at));
        item.addEventListener("mousedown", e => { e.preventDefault(); put(r); });
        return item;
      }));
      list.hidden = shown.length === 0;
    };
    reply.addEventListener("input", () => {
      const t = token();
      if (!t) return close();
      shown = replies.filter(r => (r.title + " " + r.text).toLowerCase().includes(t.query)).slice(0, 8);
      at = 0; draw();
    });
    reply.addEventListener("keydown", e => {
      if (list.hidden) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        at = (at + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length; draw(); e.preventDefault();
      } else if (e.key === "Enter" || e.key === "Tab") { put(shown[at]); e.preventDefault(); }
      else if (e.key === "Escape") { close(); e.preventDefault(); }
    });
    reply.addEventListener("blur", close);
  }

  if (page.page === "escalation") {
    const log = document.getElementById("log"), status = document.getElementById("status");
    let last = Number(page.after || 0);
    log.scrollTop = log.scrollHeight;
    const events = new EventSource(`/agent/escalations/${page.escalation}/events?after=${last}&notes=${page.notes || 0}`);
    events.addEventListener("msg", e => {
      const m = JSON.parse(e.data);
      if (m.id <= last) return;
      last = m.id;
      const div = el("div", "msg " + m.author);
      div.dataset.id = m.id;
      div.append(el("div", "meta", `${m.who} · ${m.at}`), el("div", "text", m.text));
      log.appendChild(div);
      log.scrollTop = log.scrollHeight;
    });
    let lastNote = Number(page.notes || 0);
    events.addEventListener("note", e => {  // a private note: agents only, styled apart
      const n = JSON.parse(e.data);
      if (n.note <= lastNote) return;
      lastNote = n.note;
      const div = el("div", "msg note");
      div.dataset.note = n.note;
      div.append(el("div", "meta", `${n.who} · ${n.at}`), el("div", "text", n.text));
      log.appendChild(div);
      log.scrollTop = log.scrollHeight;
    });
    events.addEventListener("status", e => {
      const s = JSON.parse(e.data).status;
      status.textContent = s;
      if (s !== page.status) document.getElementById("notice").hidden = false;
    });
  }

  const filters = document.getElementById("filters");  // a filter picked applies at once (the button without JS)
  if (filters) filters.querySelectorAll("select").forEach(s => s.addEventListener("change", () => filters.submit()));

  const rows = document.getElementById("queue-rows");
  if (rows) {
    const live = document.getElementById("live");
    const render = list => {
      rows.replaceChildren(...list.map(r => {
        const tr = el("tr", `prio-${r.priority}` + (r.overdue ? " overdue" : ""));
        const link = el("a", "", "#" + r.id), reason = el("td"), detail = el("details"), waiting = el("td", "", r.age);
        link.href = r.url;
        detail.append(el("summary", "", "detail"), el("b", "", r.reason_kind), " " + r.reason);
        reason.append(el("b", "", r.headline));
        if (r.review) reason.append(" ", el("span", "tag", "draft to review"));
        reason.append(detail);
        if (r.sla) waiting.append(el("br"), el("span", "sla", r.sla));
        const first = el("td"), prio = el("td"), who = el("td", "", r.customer);
        first.append(link);
        prio.append(el("span", "prio", r.priority_label));
        if (r.language) who.append(" ", el("span", "tag", r.language));
        tr.append(first, prio, who, el("td", "", r.channel), reason, el("td", "", r.status_label),
                  waiting);
        return tr;
      }));
      if (!list.length) {
        const tr = el("tr", "empty"), td = el("td", "", page.empty || "Nothing waiting.");
        td.colSpan = 7;
        tr.append(td);
        rows.append(tr);
      }
    };
    const events = new EventSource("/agent/events" + (page.filters ? "?" + page.filters : ""));  // the same filters
    events.addEventListener("queue", e => { render(JSON.parse(e.data)); live.textContent = "live"; });
    events.onerror = () => { live.textContent = "reconnecting…"; };
  }
})();
