// pricewise console: the branding preview follows the form as it is edited, and destructive
// forms ask first. Everything works without this file; it only adds comfort.
(function () {
  "use strict";
  function preview(form) {
    var box = document.getElementById(form.getAttribute("data-preview"));
    if (!box) return;
    var logo = box.querySelector('[data-role="logo"]');
    var button = box.querySelector('[data-role="button"]');
    function update() {
      var color = form.elements.primary_color.value;
      if (/^#[0-9a-fA-F]{6}$/.test(color)) box.style.setProperty("--brand", color);
      var text = form.elements.widget_button_text.value.trim();
      button.textContent = text || "Get an estimate";
      var url = form.elements.logo_url.value.trim();
      if (/^https?:\/\//.test(url)) { logo.src = url; logo.hidden = false; } else { logo.removeAttribute("src"); logo.hidden = true; }
    }
    form.addEventListener("input", update);
    update();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-preview]").forEach(preview);
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  });
})();
