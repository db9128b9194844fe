/* pricewise estimate widget: <script src="https://API/widget.js" data-key="efofx_pk_..." async></script>
   Vanilla JS in a Shadow DOM. Takes only the publishable key; no cookies, no storage. */
(function () {
  "use strict";
  var me = document.currentScript || document.querySelector('script[src*="widget.js"][data-key]');
  if (!me || window.__pricewiseWidget) return;
  window.__pricewiseWidget = true;
  var key = me.getAttribute("data-key") || "";
  if (key.indexOf("efofx_pk_") !== 0) {
    console.error("pricewise widget: data-key must be a publishable widget key (efofx_pk_...)");
    return;
  }
  var api = new URL(me.src, location.href).origin; // the API serves this script
  var q = "?api_key=" + encodeURIComponent(key); // public; lets the API answer CORS preflights
  var token = null, conv = null, said = [], busy = false;

  function call(method, path, body) {
    var h = {}; // a GET without custom headers needs no preflight
    if (body) h["Content-Type"] = "application/json";
    if (token) h["X-Widget-Session"] = token;
    return fetch(api + path + q, { method: method, headers: h, credentials: "omit", mode: "cors",
      body: body ? JSON.stringify(body) : undefined }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error((j.error && j.error.message) || "Something went wrong (" + r.status + ")");
        return j;
      });
    });
  }

  var css = ":host{all:initial;font:15px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1b1f24}" +
    "*{box-sizing:border-box}[hidden]{display:none!important}button,input{font:inherit}" +
    ".launch{position:fixed;right:16px;bottom:16px;z-index:2147483000;display:flex;gap:8px;align-items:center;" +
    "border:0;border-radius:24px;padding:12px 18px;background:var(--pw);color:#fff;cursor:pointer;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25)}.launch img{height:22px;width:auto;border-radius:4px}" +
    ".panel{position:fixed;right:16px;bottom:76px;z-index:2147483001;width:min(390px,calc(100vw - 32px));" +
    "height:min(620px,calc(100vh - 100px));display:flex;flex-direction:column;background:#fff;border-radius:12px;" +
    "box-shadow:0 8px 32px rgba(0,0,0,.3);overflow:hidden}.panel[hidden]{display:none}" +
    "header{display:flex;align-items:center;gap:8px;padding:10px 12px;background:var(--pw);color:#fff}" +
    "header img{height:26px;width:auto;border-radius:4px}h2{flex:1;margin:0;font-size:16px}" +
    ".x{background:transparent;border:0;color:#fff;font-size:24px;line-height:1;cursor:pointer;padding:4px 8px}" +
    ".body{flex:1;overflow-y:auto;padding:12px}.msg{margin:6px 0;padding:8px 11px;border-radius:10px;max-width:88%;" +
    "white-space:pre-wrap}.user{margin-left:auto;background:var(--pw);color:#fff}.bot{background:#f0f2f5}" +
    ".err{background:#fde8e8;color:#8a1c1c}.chips{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}" +
    ".chip{border:1px solid var(--pw);color:var(--pw);background:#fff;border-radius:16px;padding:5px 11px;cursor:pointer}" +
    "form.ask{display:flex;gap:6px;padding:10px;border-top:1px solid #e3e6ea}" +
    "input[type=text],input[type=email],input[type=tel]{flex:1;min-width:0;padding:9px 10px;border:1px solid #c8ced6;" +
    "border-radius:8px;width:100%}.go{border:0;border-radius:8px;padding:9px 14px;background:var(--pw);color:#fff;" +
    "cursor:pointer}.go:disabled{opacity:.5}.get{display:block;width:100%;margin:8px 0}" +
    ":focus-visible{outline:3px solid #ffbf47;outline-offset:2px}" +
    ".card{border:1px solid #dfe3e8;border-radius:10px;padding:12px;margin:10px 0}.card h3{margin:0 0 6px;font-size:15px}" +
    ".big{font-size:20px;font-weight:700}.muted{color:#59636e;font-size:13px}ul{margin:4px 0 8px;padding-left:18px}" +
    "table{width:100%;border-collapse:collapse;font-size:13px}td{padding:2px 0}td+td{text-align:right}" +
    "form.contact label{display:block;margin:6px 0 2px;font-size:13px}form.contact .c{display:flex;gap:8px;" +
    "align-items:flex-start;margin:8px 0}.badge{margin:0;padding:4px;text-align:center;font-size:11px;color:#59636e}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100%;border-radius:0}}";

  var host = document.createElement("div");
  host.setAttribute("data-pricewise-widget", "");
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML = "<style>" + css + "</style>" +
    '<button class="launch" type="button" aria-haspopup="dialog" aria-expanded="false" hidden>' +
    '<span class="lt"></span></button>' +
    '<div class="panel" role="dialog" aria-modal="false" aria-labelledby="pw-title" hidden>' +
    '<header><h2 id="pw-title"></h2><button class="x" type="button" aria-label="Close">\u00d7</button></header>' +
    '<div class="body"><div class="log" role="log" aria-live="polite" aria-relevant="additions"></div>' +
    '<div class="chips" role="group" aria-label="Suggested answers"></div>' +
    '<button class="go get" type="button" hidden>See my estimate</button><div class="out" aria-live="polite"></div></div>' +
    '<form class="ask"><label class="sr" for="pw-msg">Describe your project</label>' +
    '<input id="pw-msg" type="text" maxlength="2000" autocomplete="off" placeholder="Describe your project\u2026">' +
    '<button class="go" type="submit">Send</button></form>' +
    '<p class="badge" hidden>Estimates by pricewise</p></div>';
  var $ = function (s) { return root.querySelector(s); };
  var launch = $(".launch"), panel = $(".panel"), log = $(".log"), chips = $(".chips"), get = $(".get"),
    out = $(".out"), ask = $("form.ask"), input = $("#pw-msg");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function say(text, who) { var m = el("div", "msg " + who, text); log.appendChild(m); m.scrollIntoView({ block: "nearest" }); }
  function money(v) {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: "USD", maximumFractionDigits: 0 }).format(v);
  }
  function weeks(v) { return (Math.round(v * 10) / 10) + " wk"; }

  function open() {
    panel.hidden = false; launch.setAttribute("aria-expanded", "true");
    if (!log.childNodes.length) say("Hi! Tell me about your project and I'll give you an honest price range.", "bot");
    input.focus();
  }
  function close() { panel.hidden = true; launch.setAttribute("aria-expanded", "false"); launch.focus(); }
  launch.addEventListener("click", function () { panel.hidden ? open() : close(); });
  $(".x").addEventListener("click", close);
  root.addEventListener("keydown", function (e) { if (e.key === "Escape" && !panel.hidden) { e.preventDefault(); close(); } });

  function showChips(list) {
    chips.textContent = "";
    (list || []).slice(0, 6).forEach(function (s) {
      var c = el("button", "chip", s); c.type = "button";
      c.addEventListener("click", function () { send(s); });
      chips.appendChild(c);
    });
  }

  function send(text) {
    text = (text || "").trim();
    if (!text || busy) return;
    busy = true; say(text, "user"); said.push(text); input.value = ""; showChips([]);
    call("POST", "/chat/send", conv ? { session_id: conv, message: text } : { message: text }).then(function (r) {
      conv = r.session_id; say(r.response, "bot"); showChips(r.suggestions);
      get.hidden = false;
      if (r.ready_for_estimate) { get.textContent = "See my estimate"; get.focus(); }
    }).catch(function (e) { say(e.message, "err"); }).then(function () { busy = false; });
  }
  ask.addEventListener("submit", function (e) { e.preventDefault(); send(input.value); });

  get.addEventListener("click", function () {
    if (busy || !said.length) return;
    busy = true; get.disabled = true;
    call("POST", "/widget/estimate", { description: said.join("\n").slice(0, 4000) }).then(function (r) {
      showChips([]); card(r);
    }).catch(function (e) { say(e.message, "err"); }).then(function () { busy = false; get.disabled = false; });
  });

  function list(parent, title, items) {
    if (!items || !items.length) return;
    parent.appendChild(el("h3", null, title));
    var ul = el("ul");
    items.forEach(function (i) { ul.appendChild(el("li", null, typeof i === "string" ? i : (i.text || i.label || JSON.stringify(i)))); });
    parent.appendChild(ul);
  }

  function card(r) {
    var e = r.estimate || {};
    out.textContent = "";
    var c = el("section", "card"); c.setAttribute("aria-label", "Your estimate"); c.tabIndex = -1;
    c.appendChild(el("h3", null, r.matched_reference_class && r.matched_reference_class.name || "Your estimate"));
    c.appendChild(el("div", "big", money(e.cost_p50) + " \u2013 " + money(e.cost_p80)));
    c.appendChild(el("div", "muted", "Likely (P50) to safe budget (P80)"));
    c.appendChild(el("p", null, "Timeline: " + weeks(e.timeline_weeks_p50) + " \u2013 " + weeks(e.timeline_weeks_p80)));
    var b = e.cost_breakdown || {}, names = Object.keys(b);
    if (names.length) {
      c.appendChild(el("h3", null, "Cost breakdown"));
      var t = el("table");
      names.forEach(function (n) {
        var tr = el("tr"); tr.appendChild(el("td", null, n.replace(/_/g, " "))); tr.appendChild(el("td", null, money(b[n])));
        t.appendChild(tr);
      });
      c.appendChild(t);
    }
    list(c, "Assumptions", r.assumptions);
    list(c, "Risks", r.risks);
    if (r.clarifying_question) c.appendChild(el("p", "muted", r.clarifying_question));
    out.appendChild(c);
    out.appendChild(contactForm());
    c.focus();
  }

  function field(form, id, label, type, required) {
    var l = el("label", null, label); l.htmlFor = id;
    var i = el("input"); i.id = id; i.type = type; i.required = !!required; i.maxLength = 200;
    form.appendChild(l); form.appendChild(i);
    return i;
  }

  function contactForm() {
    var f = el("form", "contact card"); f.setAttribute("aria-label", "Get this estimate by e-mail");
    f.appendChild(el("h3", null, "Want the contractor to follow up?"));
    var email = field(f, "pw-email", "E-mail", "email", true), name = field(f, "pw-name", "Name (optional)", "text"),
      phone = field(f, "pw-phone", "Phone (optional)", "tel");
    var row = el("div", "c"), box = el("input"); box.type = "checkbox"; box.id = "pw-consent";
    var bl = el("label", null, "I agree to be contacted and asked later how the project went."); bl.htmlFor = "pw-consent";
    row.appendChild(box); row.appendChild(bl); f.appendChild(row);
    var go = el("button", "go", "Send my details"); go.type = "submit"; f.appendChild(go);
    var note = el("p", "muted"); note.setAttribute("role", "status"); f.appendChild(note);
    f.addEventListener("submit", function (e) {
      e.preventDefault(); go.disabled = true;
      var body = { email: email.value.trim(), consent: box.checked };
      if (name.value.trim()) body.name = name.value.trim();
      if (phone.value.trim()) body.phone = phone.value.trim();
      call("POST", "/widget/contact", body).then(function () {
        note.textContent = "Thanks! Your details were sent.";
      }).catch(function (err) { note.textContent = err.message; go.disabled = false; });
    });
    return f;
  }

  function start() {
    document.body.appendChild(host);
    call("GET", "/widget/config").then(function (cfg) {
      token = cfg.session_token;
      var b = cfg.branding || {};
      host.style.setProperty("--pw", /^#[0-9A-Fa-f]{6}$/.test(b.primary_color || "") ? b.primary_color : "#1F6FEB");
      $(".lt").textContent = b.button_text || "Get your estimate";
      $("#pw-title").textContent = cfg.name || "Project estimate";
      if (b.logo_url) {
        [launch, $("header")].forEach(function (p) { var i = el("img"); i.alt = ""; i.src = b.logo_url; p.insertBefore(i, p.firstChild); });
      }
      $(".badge").hidden = !b.badge;
      launch.hidden = false;
    }).catch(function (e) { console.error("pricewise widget: " + e.message); });
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
