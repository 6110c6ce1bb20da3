// The "your devices" page: sign in, list the sessions, sign them out, change
// the password. Everything goes through the same client apps use
// (clients/js, served as /account/jwtwarden.js). Text only through
// textContent: nothing from the server is ever parsed as HTML.
import { createClient } from "./jwtwarden.js";

const NOTICE_KEY = "jwtwarden.account.notice";
const NOTICES = {
  theft: [
    "Your session was ended for your safety.",
    "Its refresh token was used twice, so someone may have copied it (possible theft). " +
      "Sign in again, change your password, and sign out any device you do not recognise.",
  ],
  ended: ["Your session has ended.", "Please sign in again."],
  "signed-out": ["You are signed out.", "Sign in to see your devices."],
};

const $ = (id) => document.getElementById(id);
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

const client = createClient({
  onTheft: () => remember("theft"),
  onSignedOut: (reason) => {
    if (reason !== "theft" && remembered() !== "theft") remember(reason);
    showSignIn();
  },
  onSignedIn: () => void showDevices(),
});
// For tests and for the curious: the page's own client.
window.jwtwarden = client;

function remember(reason) {
  try {
    localStorage.setItem(NOTICE_KEY, reason);
  } catch {
    // Storage refused (private mode): the notice shows in this tab only.
    sessionNotice = reason;
  }
}

let sessionNotice = null;

function remembered() {
  try {
    return localStorage.getItem(NOTICE_KEY) ?? sessionNotice;
  } catch {
    return sessionNotice;
  }
}

function forget() {
  sessionNotice = null;
  try {
    localStorage.removeItem(NOTICE_KEY);
  } catch {
    // nothing stored
  }
}

function showNotice() {
  const box = $("notice");
  const text = NOTICES[remembered()];
  box.replaceChildren();
  box.hidden = !text;
  if (!text) return;
  box.dataset.kind = remembered();
  const title = document.createElement("strong");
  title.textContent = text[0];
  const detail = document.createElement("span");
  detail.textContent = text[1];
  box.append(title, detail);
}

function show(signedIn) {
  $("loading").hidden = true;
  $("signin").hidden = signedIn;
  $("devices").hidden = !signedIn;
  $("password-section").hidden = !signedIn;
  $("whoami").hidden = !signedIn;
  document.body.dataset.state = signedIn ? "signed-in" : "signed-out";
}

function showSignIn() {
  show(false);
  showNotice();
  $("session-list").replaceChildren();
}

async function showDevices() {
  const response = await client.fetch("/sessions");
  if (response.status === 401) {
    showSignIn();
    return;
  }
  if (!response.ok) {
    $("devices-error").textContent = await describe(response);
    return;
  }
  render(await response.json());
  show(true);
  showNotice();
}

function render(sessions) {
  const list = $("session-list");
  const template = $("session-item");
  const items = sessions.map((s) => {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.sid = s.sid;
    item.querySelector(".name").textContent = s.device;
    item.querySelector(".ip").textContent = s.ip ?? "unknown";
    item.querySelector(".created").textContent = when.format(new Date(s.created_at));
    item.querySelector(".used").textContent = when.format(new Date(s.last_used_at));
    item.querySelector(".this-device").hidden = !s.current;
    item.classList.toggle("current", s.current);
    const end = item.querySelector(".end");
    end.setAttribute("aria-label", `Sign out ${s.device}${s.current ? " (this device)" : ""}`);
    end.addEventListener("click", () => busy(end, () => endSession(s)));
    return item;
  });
  list.replaceChildren(...items);
  const current = sessions.find((s) => s.current);
  $("whoami").textContent = `${sessions.length} signed-in device${sessions.length === 1 ? "" : "s"}`;
  $("devices").dataset.count = String(sessions.length);
  if (current) $("devices").dataset.current = current.sid;
}

async function endSession(session) {
  if (session.current) {
    await client.logout();
    return;
  }
  const response = await client.fetch(`/sessions/${encodeURIComponent(session.sid)}`, { method: "DELETE" });
  if (!response.ok && response.status !== 404) $("devices-error").textContent = await describe(response);
  await showDevices();
}

async function signOutAll(keepCurrent) {
  const response = await client.fetch(`/logout/all${keepCurrent ? "?keep_current=true" : ""}`, {
    method: "POST",
  });
  if (!response.ok) {
    $("devices-error").textContent = await describe(response);
    return;
  }
  if (keepCurrent) await showDevices();
  else client.signedOut("signed-out");
}

async function describe(response) {
  try {
    const body = await response.json();
    return body.error_description ?? `The server answered ${response.status}.`;
  } catch {
    return `The server answered ${response.status}.`;
  }
}

async function busy(button, work) {
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    $("devices-error").textContent = "The server could not be reached. Try again.";
    console.warn(error);
  } finally {
    button.disabled = false;
  }
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("signin-error");
  const button = form.querySelector("button");
  error.textContent = "";
  button.disabled = true;
  try {
    await client.login($("username").value, $("password").value);
    forget();
    form.reset();
    await showDevices();
    $("main").focus();
  } catch (failure) {
    error.textContent =
      failure.status === 429
        ? "Too many attempts. Wait a few minutes and try again."
        : failure.status
          ? "Wrong username or password."
          : "The server could not be reached. Try again.";
  } finally {
    button.disabled = false;
  }
});

$("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const message = $("password-message");
  const button = form.querySelector("button");
  message.textContent = "";
  button.disabled = true;
  try {
    const response = await client.fetch("/password", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        current_password: $("current-password").value,
        new_password: $("new-password").value,
      }),
    });
    if (response.ok) {
      form.reset();
      message.textContent = "Password changed. Every other device was signed out.";
      message.dataset.ok = "true";
      await showDevices();
    } else {
      message.dataset.ok = "false";
      message.textContent = await describe(response);
    }
  } catch {
    message.textContent = "The server could not be reached. Try again.";
  } finally {
    button.disabled = false;
  }
});

$("sign-out-others").addEventListener("click", (event) =>
  busy(event.currentTarget, () => signOutAll(true)),
);
$("sign-out-everywhere").addEventListener("click", (event) =>
  busy(event.currentTarget, () => signOutAll(false)),
);

async function start() {
  try {
    if ((await client.session()) === null) {
      showSignIn();
      return;
    }
    await showDevices();
  } catch (error) {
    showSignIn();
    $("signin-error").textContent = "The server could not be reached. Try again.";
    console.warn(error);
  }
}

start();
