// The login page's progressive enhancement. Without it the form posts as usual and the server
// answers with a redirect or the page again; with it the form posts JSON and a failure shows
// inline, without a reload. No framework, nothing from another origin.
'use strict';

(function () {
  var INVALID = 'Invalid username or password.';
  var TOO_MANY = 'Too many attempts. Try again later.';
  var UNAVAILABLE = 'Sign-in is unavailable right now. Try again later.';
  var MAX_NEXT = 2048;

  var form = document.getElementById('login-form');
  var alertBox = document.getElementById('login-error');
  if (!form || !alertBox || !window.fetch || !window.JSON) return;
  var submit = form.querySelector('button[type="submit"]');
  var busy = false;

  // The server already sanitized `next`; follow it only if it is still a path on this origin.
  function safeNext(value) {
    if (typeof value !== 'string' || value.length > MAX_NEXT) return '/';
    if (value.charAt(0) !== '/' || value.charAt(1) === '/' || value.charAt(1) === '\\') return '/';
    if (/[\u0000-\u0020\u007f\\]/.test(value)) return '/';
    return value;
  }

  function showError(message) {
    // Empty first, so the same message twice in a row is still announced.
    alertBox.textContent = '';
    alertBox.textContent = message;
    alertBox.focus();
  }

  function setBusy(on) {
    busy = on;
    if (submit) submit.disabled = on;
    if (on) form.setAttribute('aria-busy', 'true');
    else form.removeAttribute('aria-busy');
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    var body = JSON.stringify({
      username: form.elements.username.value,
      password: form.elements.password.value,
    });
    fetch(form.action, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: body,
    })
      .then(function (response) {
        if (response.status === 200) {
          window.location.assign(safeNext(form.elements.next.value));
          return;
        }
        form.elements.password.value = '';
        if (response.status === 429) showError(TOO_MANY);
        else if (response.status >= 500) showError(UNAVAILABLE);
        else showError(INVALID);
        setBusy(false);
      })
      .catch(function () {
        showError(UNAVAILABLE);
        setBusy(false);
      });
  });
})();
