// Artifact tables: "Compare selected" is enabled when exactly two artifacts are ticked;
// a select marked data-autosubmit submits its form on change.
(function () {
  "use strict";

  document.querySelectorAll("form[data-compare-form]").forEach(function (form) {
    var button = form.querySelector("[data-compare-button]");
    var boxes = form.querySelectorAll('input[type="checkbox"][name="id"]');
    function update() {
      var checked = form.querySelectorAll('input[type="checkbox"][name="id"]:checked').length;
      if (button) {
        button.disabled = checked !== 2;
      }
      boxes.forEach(function (box) {
        box.disabled = checked >= 2 && !box.checked;
      });
    }
    boxes.forEach(function (box) {
      box.addEventListener("change", update);
    });
    update();
  });

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) {
        select.form.submit();
      }
    });
  });
})();
