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

  if (page.page === "escalation") {
    const log = document.getElementById("log"), status = document.getElementById("status");
    let last = Number(page.after || 0);
    log.scrollTop = log.scrollHeight;
    const events = new EventSource(`/agent/escalations/${page.escalation}/events?after=${last}`);
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
    events.addEventListener("status", e => {
      const s = JSON.parse(e.data).status;
      status.textContent = s;
      if (s !== page.status) document.getElementById("notice").hidden = false;
    });
  }

  const rows = document.getElementById("queue-rows");
  if (rows) {
    const live = document.getElementById("live");
    const render = list => {
      rows.replaceChildren(...list.map(r => {
        const tr = el("tr"), link = el("a", "", "#" + r.id), reason = el("td");
        link.href = r.url;
        reason.append(el("b", "", r.reason_kind), " " + r.reason);
        if (r.review) reason.append(" ", el("span", "tag", "draft to review"));
        const first = el("td");
        first.append(link);
        tr.append(first, el("td", "", r.customer), el("td", "", r.channel), reason, el("td", "", r.status_label),
                  el("td", "", r.age));
        return tr;
      }));
      if (!list.length) {
        const tr = el("tr", "empty"), td = el("td", "", "Nothing waiting.");
        td.colSpan = 6;
        tr.append(td);
        rows.append(tr);
      }
    };
    const events = new EventSource("/agent/events");
    events.addEventListener("queue", e => { render(JSON.parse(e.data)); live.textContent = "live"; });
    events.onerror = () => { live.textContent = "reconnecting…"; };
  }
})();
