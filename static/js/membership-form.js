// Enables the board role field only for reviewers, the one role that takes one. The server checks the same rule.
(function () {
  "use strict";
  var form = document.getElementById("grant-form");
  if (!form) { return; }
  var role = form.querySelector("select[name=role]");
  var board = form.querySelector("select[name=board_role]");
  if (!role || !board) { return; }
  function sync() {
    var reviewer = role.value === "reviewer";
    board.disabled = !reviewer;
    if (!reviewer) { board.value = ""; }
  }
  role.addEventListener("change", sync);
  sync();
})();
