// The browser chat (channels/web.py): served as a file, so the page's CSP allows no inline script.
(() => {
  // 128 random bits as hex (getRandomValues works on plain http too, unlike randomUUID)
  const rnd = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join("");
  // the visitor id is this browser's secret (the server keeps only its digest): 16-64 characters
  let visitor = localStorage.getItem("supportbot-visitor");
  if (!visitor || !/^[A-Za-z0-9_-]{16,64}$/.test(visitor)) { visitor = rnd(); localStorage.setItem("supportbot-visitor", visitor); }
  const log = document.getElementById("log"), status = document.getElementById("status");
  const show = (author, text) => {
    const div = document.createElement("div");
    div.className = "msg " + author;
    div.textContent = text;           // never innerHTML: text is shown, not run
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  };
  const send = async text => {
    log.querySelectorAll(".chip").forEach(x => { x.disabled = true; });  // a message answers the open question
    show("customer", text);
    status.textContent = "...";
    const res = await fetch("/chat/messages", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({visitor, id: rnd(), text})});   // one id per message: a repeat is deduplicated
    if (!res.ok) status.textContent = "Could not send: " + ((await res.json()).error || res.status);
  };
  // a reply's buttons: chips under it; a click sends the label as the customer's message, once
  const chips = (labels, answered) => {
    if (!labels || !labels.length) return;
    const row = document.createElement("div");
    row.className = "chips";
    for (const label of labels) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.textContent = label;
      b.disabled = answered;
      b.addEventListener("click", () => {
        if (b.disabled) return;
        row.querySelectorAll("button").forEach(x => { x.disabled = true; });
        b.classList.add("chosen");
        send(label);
      });
      row.appendChild(b);
    }
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  };
  const reply = (author, text, buttons, answered) => { show(author, text); chips(buttons, answered); };
  fetch("/chat/history?visitor=" + visitor).then(r => r.json()).then(rows => rows.forEach((r, i) =>
    // buttons already answered (the customer wrote after them) are shown, but no longer pressable
    reply(r.author, r.text, r.buttons, rows.slice(i + 1).some(x => x.author === "customer"))));
  const events = new EventSource("/chat/events?visitor=" + visitor);
  events.addEventListener("reply", e => { const r = JSON.parse(e.data); reply(r.author === "agent" ? "agent" : "bot", r.text, r.buttons, false); status.textContent = ""; });
  events.onerror = () => { status.textContent = "Reconnecting..."; };
  events.onopen = () => { status.textContent = ""; };
  document.getElementById("form").addEventListener("submit", e => {
    e.preventDefault();
    const input = document.getElementById("text"), text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
})();
