namespace Keyward.Server.Dashboard;

/// <summary>The dashboard's stylesheet and script, compiled in (the page loads nothing from anywhere else).</summary>
internal static class DashboardAssets
{
    public const string Css = """
        :root { --ok:#1b7f3b; --pending:#6b7280; --expiring:#b26a00; --failed:#c62828; --expired:#8e0000; font-family: system-ui, sans-serif; }
        body { margin: 0; color: #1f2328; background: #f6f8fa; }
        header { display: flex; gap: 1rem; align-items: baseline; padding: .6rem 1.2rem; background: #24292f; color: #fff; }
        header h1 { margin: 0; font-size: 1.2rem; } header .meta { color: #c9d1d9; } .logout { margin-left: auto; }
        main { padding: 1rem 1.2rem; } section { margin-bottom: 1.6rem; } h2 { font-size: 1.05rem; margin: .4rem 0; }
        .meta { color: #57606a; font-size: .85rem; margin: .2rem 0 .6rem; }
        table { border-collapse: collapse; width: 100%; background: #fff; font-size: .85rem; }
        th, td { border-bottom: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; }
        th[data-type] { cursor: pointer; user-select: none; } th.asc::after { content: " ▲"; } th.desc::after { content: " ▼"; }
        tr.expiring td:first-child { border-left: 4px solid var(--expiring); } tr.failed td:first-child { border-left: 4px solid var(--failed); }
        tr.expired td:first-child { border-left: 4px solid var(--expired); } tr.ok td:first-child { border-left: 4px solid var(--ok); }
        tr.pending td:first-child { border-left: 4px solid var(--pending); }
        .pill, .cond { display: inline-block; border-radius: 9px; padding: 0 .5rem; color: #fff; font-size: .78rem; margin: 1px 0; }
        .pill.ok, .cond.ok { background: var(--ok); } .pill.pending { background: var(--pending); } .pill.expiring, .cond.expiring { background: var(--expiring); }
        .pill.failed, .cond.failed { background: var(--failed); } .pill.expired { background: var(--expired); }
        .counts { display: flex; gap: 1rem; list-style: none; padding: 0; margin: 0; }
        .counts li { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: .4rem .8rem; }
        .counts li.failed b, .counts li.expired b { color: var(--failed); } .counts li.expiring b { color: var(--expiring); }
        .banner.failed { background: #ffebe9; border: 1px solid var(--failed); padding: .5rem; }
        .graph-wrap { display: flex; gap: 1rem; align-items: flex-start; } .graph-wrap svg { background: #fff; border: 1px solid #d0d7de; max-width: 75vw; height: auto; }
        #radius { min-width: 16rem; background: #fff; border: 1px solid #d0d7de; padding: .5rem; font-size: .85rem; }
        #graph .node rect { fill: #fff; stroke: #57606a; } #graph .node text { font-size: 11px; fill: #1f2328; }
        #graph .credential rect { fill: #ddf4ff; stroke: #0969da; cursor: pointer; } #graph .sink rect { fill: #fff8c5; }
        #graph .hook rect { fill: #fbefff; } #graph .service rect { fill: #dafbe1; } #graph .check rect { fill: #f6f8fa; }
        #graph .edge { fill: none; stroke: #8c959f; stroke-width: 1.2; }
        #graph.focused .node { opacity: .25; } #graph.focused .edge { opacity: .12; }
        #graph.focused .node.hit { opacity: 1; } #graph.focused .edge.hit { opacity: 1; stroke: #cf222e; stroke-width: 2; }
        #graph .node.root rect { stroke: #cf222e; stroke-width: 2.5; }
        main.login { max-width: 22rem; margin: 4rem auto; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 1rem 1.4rem; }
        main.login input[type=password] { width: 100%; box-sizing: border-box; margin: .4rem 0 .8rem; padding: .4rem; }
        """;

    public const string Js = """
        "use strict";
        // Sort a table by a header click: numbers by data-sort, text by content.
        for (const th of document.querySelectorAll("table.sortable th[data-type]")) {
          th.addEventListener("click", () => {
            const table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
            const asc = !th.classList.contains("asc");
            for (const h of table.querySelectorAll("th")) h.classList.remove("asc", "desc");
            th.classList.add(asc ? "asc" : "desc");
            const key = (tr) => { const td = tr.cells[col]; return td.dataset.sort !== undefined ? td.dataset.sort : td.textContent.trim(); };
            const num = th.dataset.type === "number";
            const rows = Array.from(body.rows).sort((a, b) => {
              const x = key(a), y = key(b);
              const c = num ? (x === "" ? Infinity : Number(x)) - (y === "" ? Infinity : Number(y)) : x.localeCompare(y);
              return asc ? c : -c;
            });
            for (const r of rows) body.appendChild(r);
          });
        }
        // Blast radius: light up what a rotation of the clicked credential reaches, and list it.
        const svg = document.getElementById("graph"), panel = document.getElementById("radius");
        function focusOn(node) {
          if (!svg || !node) return;
          const ids = new Set((node.dataset.radius || "").split(" ").filter(Boolean));
          svg.classList.add("focused");
          for (const n of svg.querySelectorAll(".node")) { n.classList.toggle("hit", ids.has(n.id)); n.classList.toggle("root", n === node); }
          for (const e of svg.querySelectorAll(".edge")) e.classList.toggle("hit", ids.has(e.dataset.from) && ids.has(e.dataset.to));
          const byKind = {};
          for (const id of ids) { if (id === node.id) continue; const n = document.getElementById(id); (byKind[n.dataset.kind] ||= []).push(n.dataset.name); }
          panel.replaceChildren();
          const h = document.createElement("h3"); h.textContent = "Rotating " + node.dataset.name + " reaches"; panel.appendChild(h);
          const kinds = Object.keys(byKind).sort();
          if (kinds.length === 0) { const p = document.createElement("p"); p.textContent = "nothing else"; panel.appendChild(p); }
          for (const k of kinds) {
            const p = document.createElement("p"); p.className = "radius-" + k;
            p.textContent = byKind[k].length + " " + k + (byKind[k].length === 1 ? "" : "s") + ": " + byKind[k].sort().join(", ");
            panel.appendChild(p);
          }
          panel.dataset.selected = node.dataset.name;
        }
        if (svg) {
          for (const n of svg.querySelectorAll(".node.credential")) {
            n.addEventListener("click", () => focusOn(n));
            n.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); focusOn(n); } });
          }
        }
        for (const a of document.querySelectorAll("a.focus")) {
          a.addEventListener("click", () => focusOn(svg && Array.from(svg.querySelectorAll(".node.credential")).find((n) => n.dataset.name === a.dataset.name)));
        }
        """;
}
