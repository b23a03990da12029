/*
 * Harbinger dashboard: the firmware page (firmware.html?kind=disk|bmc|host|nic).
 *
 * Per hardware model, the versions the fleet runs and which hosts and components run
 * each: drift among identical models is where "only some of them fail" stories start.
 * The grouping is done by the collector (GET api/v1/fleet/firmware).
 */
"use strict";

(function (H) {
  const REFRESH_MS = 60000;
  const KINDS = ["disk", "bmc", "host", "nic"];
  const params = new URLSearchParams(location.search);
  let kind = KINDS.includes(params.get("kind")) ? params.get("kind") : "disk";
  let answer = null;

  const picker = H.byId("kind-picker");
  const driftOnly = H.byId("drift-only");
  driftOnly.checked = params.get("drift") === "1";

  function renderPicker() {
    for (const button of picker.querySelectorAll("button[data-kind]")) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-kind") === kind));
    }
  }

  function remember() {
    const url = new URL(location.href);
    url.searchParams.set("kind", kind);
    if (driftOnly.checked) url.searchParams.set("drift", "1");
    else url.searchParams.delete("drift");
    history.replaceState(null, "", url);
  }

  picker.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-kind]");
    if (!button || button.getAttribute("data-kind") === kind) return;
    kind = button.getAttribute("data-kind");
    answer = null;
    remember();
    renderPicker();
    H.replace(H.byId("models"), H.emptyBox("Loading…"));
    refresh();
  });
  driftOnly.addEventListener("change", () => {
    remember();
    render();
  });
  renderPicker();

  function componentCell(c) {
    return H.el("li", null,
      H.el("a", { href: H.hostHref(c.host_id) }, c.hostname),
      " ",
      H.el("span", { class: "mono muted" }, c.component));
  }

  function render() {
    if (!answer) return;
    const models = answer.models.filter((m) => !driftOnly.checked || m.drift);
    const drifting = answer.models.filter((m) => m.drift).length;
    H.replace(H.byId("firmware-summary"),
      `${answer.models.length} models, ${drifting} with drift; comparing ${answer.field}` +
      (answer.skipped > 0 ? `; ${answer.skipped} components without a model or ${answer.field}` : ""));
    const box = H.byId("models");
    if (models.length === 0) {
      H.replace(box, H.emptyBox(answer.models.length === 0
        ? `No ${kind} in any inventory reports a model and ${answer.field}.`
        : "No model runs more than one version."));
      return;
    }
    H.replace(box, H.el("div", { class: "table-wrap" },
      H.el("table", null,
        H.el("thead", null, H.el("tr", null,
          ["Model", "Drift", "Components", "Version", "Runs on"].map((t) => H.el("th", { scope: "col" }, t)))),
        H.el("tbody", null, models.flatMap((m) => m.versions.map((v, i) =>
          H.el("tr", { class: m.drift ? "hw-warn" : null },
            i === 0 ? H.el("th", { scope: "rowgroup", rowspan: m.versions.length }, m.model) : null,
            i === 0 ? H.el("td", { rowspan: m.versions.length },
              m.drift ? H.el("span", { class: "badge warning" }, `${m.versions.length} versions`) : H.el("span", { class: "badge ok" }, "uniform")) : null,
            i === 0 ? H.el("td", { class: "num", rowspan: m.versions.length }, `${m.components} on ${m.hosts} host${m.hosts === 1 ? "" : "s"}`) : null,
            H.el("td", { class: "mono" }, v.version, H.el("div", { class: "muted" }, `${v.count} component${v.count === 1 ? "" : "s"}`)),
            H.el("td", null, H.el("ul", { class: "kv" }, v.components.map(componentCell),
              v.count > v.components.length ? H.el("li", { class: "muted" }, `and ${v.count - v.components.length} more`) : null)))))))));
  }

  async function refresh() {
    const asked = kind;
    try {
      const body = await H.api("api/v1/fleet/firmware", { kind: asked });
      if (asked !== kind) return;
      answer = body;
      render();
      H.replace(H.byId("banner"));
      H.markRefreshed(true);
    } catch (err) {
      if (asked !== kind) return;
      H.replace(H.byId("models"), H.errorBox(err, "Firmware"));
      H.markRefreshed(false, "Refresh failed");
    }
  }

  H.every(REFRESH_MS, refresh);
})(window.Harbinger);
