// Live updates of the flagged users: ask every few seconds whether flags arrived since the
// page was drawn; if so, fetch this page's rows as JSON and redraw the table (text only:
// chat-derived strings go into textContent, never into HTML).
(function () {
  "use strict";
  var live = document.getElementById("live");
  var body = document.querySelector("#flagged tbody");
  var total = document.getElementById("total");
  if (!live || !body) { return; }
  var latest = live.getAttribute("data-latest");

  function when(ts) {
    return new Date(ts * 1000).toISOString().slice(0, 19).replace("T", " ");
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function redraw(data) {
    while (body.firstChild) { body.removeChild(body.firstChild); }
    data.users.forEach(function (u) {
      var tr = document.createElement("tr");
      var link = document.createElement("a");
      link.href = "/users/" + encodeURIComponent(u.login);
      link.textContent = u.display_name;
      cell(tr, "").appendChild(link);
      cell(tr, "#" + u.channel);
      cell(tr, String(u.flagged));
      cell(tr, u.worst_score.toFixed(2));
      cell(tr, when(u.last_flagged));
      cell(tr, String(u.reports));
      body.appendChild(tr);
    });
    total.textContent = String(data.total);
  }

  function poll() {
    fetch("/api/flagged?after=" + encodeURIComponent(latest), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (d) {
        if (d.new > 0) {
          latest = String(d.latest);
          return fetch("/api/flagged" + window.location.search, { credentials: "same-origin" })
            .then(function (r) { return r.json(); })
            .then(function (data) {
              redraw(data);
              live.textContent = "updated " + new Date().toLocaleTimeString();
            });
        }
      })
      .catch(function (e) { live.textContent = "live updates paused (" + e.message + ")"; })
      .finally(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);
}());
