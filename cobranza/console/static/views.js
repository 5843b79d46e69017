/* Consola de asesores: what the supervisors' views in their own files (experiments.js,
 * dashboard.js) share, so each of them holds only what it shows.
 *
 * `Consola.view(name, hooks)` follows console.js's three events (see its header) for the view
 * called `name`, whose parts in index.html are named after it: the slot `{name}-slot`, the
 * template `tpl-{name}`, the section `data-testid="{name}"` and its heading `{name}-title`.
 * "consola:supervisor" mounts the template in the slot and calls `hooks.mount(helpers, q)`
 * (`q(testid)` finds a part of the mounted view); "consola:reset" calls `hooks.unmount()` and
 * empties the slot; "consola:view" shows or hides the section and, when the view is shown with
 * the focus, moves the focus to its heading and calls `hooks.open()`. It returns `busy(button,
 * action)`, which runs an action with its button disabled and reports its error (not once the
 * view is unmounted: the page belongs to the next login then).
 *
 * `Consola.withButton` is that runner for console.js too, which passes its own error handlers.
 * Loaded before every other script of the page (index.html); plain ES2020 like them. */
"use strict";

window.Consola = (() => {
  /** Runs an action with its button disabled; errors go to `report` (the page's error area). */
  async function withButton(button, action, clearError, report) {
    clearError();
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await action();
    } catch (err) {
      report(err);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  function view(name, hooks) {
    let helpers = null; // console.js's, while a supervisor's page is mounted
    let shown = null; // the mounted section and its heading

    function mount(detail) {
      unmount();
      const slot = document.getElementById(`${name}-slot`);
      if (!slot || !detail || typeof detail.api !== "function") return;
      helpers = detail;
      slot.append(helpers.fromTemplate(`tpl-${name}`));
      const q = (testid) => slot.querySelector(`[data-testid='${testid}']`);
      shown = { section: q(name), title: document.getElementById(`${name}-title`) };
      hooks.mount(helpers, q);
    }

    function unmount() {
      if (hooks.unmount) hooks.unmount();
      helpers = null;
      shown = null;
      const slot = document.getElementById(`${name}-slot`);
      if (slot) slot.replaceChildren();
    }

    function show(detail) {
      if (!shown || !detail) return;
      const visible = detail.view === name;
      shown.section.hidden = !visible;
      if (!visible || !detail.focus) return;
      shown.title.focus();
      hooks.open();
    }

    document.addEventListener("consola:supervisor", (event) => mount(event.detail));
    document.addEventListener("consola:reset", unmount);
    document.addEventListener("consola:view", (event) => show(event.detail));

    return (button, action) =>
      withButton(
        button,
        action,
        () => helpers.clearError(),
        (err) => {
          if (helpers) helpers.report(err);
        },
      );
  }

  return { view, withButton };
})();
