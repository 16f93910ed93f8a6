// Passkeys in the browser: the login page's "Sign in with a passkey" (username-less, or for the
// username typed in the form, and in the browser's autofill where it offers passkeys), and the
// passkeys page (/auth/passkeys: list, add, rename, remove; /auth/passkeys/enroll#token=…: a
// first passkey from an enrollment link). Every check happens at the edge; this file only
// carries bytes between the edge and navigator.credentials. No framework, nothing from another
// origin, no innerHTML.
'use strict';

(function () {
  if (!window.PublicKeyCredential || !window.fetch || !navigator.credentials) return;
  var FAILED = 'Sign-in failed. Try again.';
  var UNAVAILABLE = 'Passkeys are unavailable right now. Try again later.';
  var MAX_NEXT = 2048;

  function bytes(b64url) {
    var b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
    var text = atob(b64 + '==='.slice((b64.length + 3) % 4));
    var out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out.buffer;
  }

  function b64url(buffer) {
    var view = new Uint8Array(buffer);
    var text = '';
    for (var i = 0; i < view.length; i++) text += String.fromCharCode(view[i]);
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: bytes(d.id), transports: d.transports };
    });
  }

  function creationOptions(o) {
    var user = { id: bytes(o.user.id), name: o.user.name, displayName: o.user.displayName };
    return Object.assign({}, o, {
      user: user,
      challenge: bytes(o.challenge),
      excludeCredentials: descriptors(o.excludeCredentials),
    });
  }

  function requestOptions(o) {
    return Object.assign({}, o, {
      challenge: bytes(o.challenge),
      allowCredentials: descriptors(o.allowCredentials),
    });
  }

  // PublicKeyCredential.toJSON(), written out for browsers that lack it.
  function credentialJSON(credential) {
    var r = credential.response;
    var response = { clientDataJSON: b64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = b64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = b64url(r.authenticatorData);
      response.signature = b64url(r.signature);
      if (r.userHandle) response.userHandle = b64url(r.userHandle);
    }
    return { id: credential.id, rawId: b64url(credential.rawId), type: credential.type, response: response };
  }

  function post(path, body) {
    return fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) {
          var error = new Error('status ' + response.status);
          error.status = response.status;
          throw error;
        }
        return json;
      });
    });
  }

  function say(element, message) {
    if (!element) return;
    element.textContent = '';
    element.textContent = message;
    if (element.focus) element.focus();
  }

  function safeNext(value) {
    if (typeof value !== 'string' || value.length > MAX_NEXT) return '/';
    if (value.charAt(0) !== '/' || value.charAt(1) === '/' || value.charAt(1) === '\\') return '/';
    if (/[\u0000-\u0020\u007f\\]/.test(value)) return '/';
    return value;
  }

  // ---- The login page ----------------------------------------------------------------------
  // One ceremony at a time: the edge keeps one challenge per browser (a cookie), so a new one
  // is asked for only when none is pending or the user typed a username, and the autofill
  // request is aborted before the button's starts.
  function loginPage(section) {
    var button = document.getElementById('passkey-button');
    var alertBox = document.getElementById('login-error');
    var nextInput = document.querySelector('input[name="next"]');
    var username = document.getElementById('username');
    var next = safeNext(nextInput ? nextInput.value : '/');
    var usernameLess = null; // the options of a challenge not yet used: a promise
    var autofill = null; // the AbortController of the autofill request
    section.hidden = false;

    function typedUsername() {
      return username && !username.closest('[hidden]') ? username.value.trim() : '';
    }

    function options(name) {
      if (name) return post('/auth/passkeys/sign-in/options', { username: name });
      if (!usernameLess) usernameLess = post('/auth/passkeys/sign-in/options', {});
      return usernameLess;
    }

    function get(optionsPromise, mediation, signal) {
      return optionsPromise.then(function (o) {
        var request = { publicKey: requestOptions(o.publicKey), signal: signal };
        if (mediation) request.mediation = mediation;
        return navigator.credentials.get(request);
      }).then(function (credential) {
        if (!credential) return null;
        // Asked for afresh next time: a verified answer uses the challenge up.
        usernameLess = null;
        return post('/auth/passkeys/sign-in', { credential: credentialJSON(credential), next: next })
          .then(function (answer) { window.location.assign(safeNext(answer.next)); });
      });
    }

    button.addEventListener('click', function () {
      button.disabled = true;
      var name = typedUsername();
      // Wait for the autofill's options (if asked for) before asking again, so their cookie can
      // never arrive after ours.
      var pending = usernameLess ? usernameLess.catch(function () {}) : Promise.resolve();
      pending.then(function () {
        if (autofill) autofill.abort();
        autofill = null;
        return get(options(name), null, undefined);
      }).catch(function (error) {
        if (error && error.name === 'AbortError') return;
        if (error && error.name === 'NotAllowedError') return; // the user cancelled
        say(alertBox, error && error.status >= 500 ? UNAVAILABLE : FAILED);
      }).then(function () { button.disabled = false; });
    });

    // Autofill: the browser lists passkeys under the username field, where it can.
    if (username && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) return;
        autofill = new AbortController();
        get(options(''), 'conditional', autofill.signal).catch(function () {});
      });
    }
  }

  // ---- The passkeys page ---------------------------------------------------------------------
  function passkeysPage() {
    var status = document.getElementById('passkey-status');
    var enrollSection = document.getElementById('enroll');
    var account = document.getElementById('account');
    var list = document.getElementById('passkey-list');

    function register(body, nameInput) {
      return post('/auth/passkeys/register/options', body).then(function (options) {
        return navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
      }).then(function (credential) {
        var payload = Object.assign({}, body, { credential: credentialJSON(credential), name: nameInput.value });
        return post('/auth/passkeys/register', payload);
      });
    }

    // Adding or removing a passkey needs a recent sign-in (a few minutes): sign in again, back here.
    function signInAgain() {
      window.location.assign('/auth/login?next=%2Fauth%2Fpasskeys');
    }

    function when(time) {
      return time ? new Date(time * 1000).toLocaleString() : 'never';
    }

    function button(label, onClick) {
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.addEventListener('click', onClick);
      return b;
    }

    function refresh() {
      return fetch('/auth/passkeys/credentials', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (response) {
          if (response.status === 401) { window.location.assign('/auth/login?next=%2Fauth%2Fpasskeys'); return null; }
          return response.json();
        })
        .then(function (answer) {
          if (!answer) return;
          list.textContent = '';
          answer.credentials.forEach(function (c) {
            var item = document.createElement('li');
            item.className = 'passkey';
            item.setAttribute('data-id', c.id);
            var name = document.createElement('strong');
            name.className = 'passkey-name';
            name.textContent = c.name;
            var about = document.createElement('span');
            about.className = 'passkey-about';
            about.textContent = ' added ' + when(c.created) + ', last used ' + when(c.last_used) + (c.synced ? ', synced' : '');
            item.appendChild(name);
            item.appendChild(about);
            item.appendChild(button('Rename', function () {
              var typed = window.prompt('New name', c.name);
              if (!typed) return;
              post('/auth/passkeys/rename', { id: c.id, name: typed }).then(refresh, function () { say(status, 'Could not rename it.'); });
            }));
            item.appendChild(button('Remove', function () {
              post('/auth/passkeys/remove', { id: c.id }).then(function () {
                say(status, 'Passkey removed.');
                return refresh();
              }, function (error) {
                if (error.status !== 403) say(status, 'Could not remove it.');
                else if (answer.credentials.length <= 1) say(status, 'This is your only passkey: add another before removing it.');
                else signInAgain();
              });
            }));
            list.appendChild(item);
          });
        });
    }

    if (window.location.pathname === '/auth/passkeys/enroll') {
      var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
      // Keep the token out of history and of any later Referer.
      history.replaceState(null, '', window.location.pathname);
      enrollSection.hidden = false;
      document.getElementById('enroll-button').addEventListener('click', function () {
        if (!match) { say(status, 'This enrollment link is incomplete.'); return; }
        register({ enrollment: decodeURIComponent(match[1]) }, document.getElementById('enroll-name')).then(function () {
          enrollSection.hidden = true;
          say(status, 'Your passkey is ready and you are signed in.');
          account.hidden = false;
          return refresh();
        }, function () { say(status, 'This enrollment link cannot be used (expired, used, or the passkey was refused).'); });
      });
      return;
    }
    account.hidden = false;
    document.getElementById('add-form').addEventListener('submit', function (event) {
      event.preventDefault();
      register({}, document.getElementById('add-name')).then(function () {
        say(status, 'Passkey added.');
        return refresh();
      }, function (error) {
        if (error && error.status === 403) signInAgain();
        else say(status, 'The passkey was not added.');
      });
    });
    refresh();
  }

  var loginSection = document.getElementById('passkey');
  if (loginSection) loginPage(loginSection);
  if (document.getElementById('passkey-list')) passkeysPage();
})();
