// The chat page. Everything a user sent reaches the page as text and is shown with
// textContent, never parsed as HTML. One WebSocket to /ws; lines in, lines out, as with nc.
(function () {
  "use strict";
  const log = document.getElementById("log");
  const input = document.getElementById("line");
  const form = document.getElementById("send");
  const status = document.getElementById("status");
  const roomTitle = document.getElementById("room");
  const nickLabel = document.getElementById("nick");
  const whoList = document.getElementById("who");
  const KEPT_LINES = 2000;
  const FIRST_DELAY = 500, LONGEST_DELAY = 10000;

  let socket = null;
  let delay = FIRST_DELAY;
  let nick = null;
  let room = "lobby";
  // What to ask for again after a reconnect: the nick and room the user chose.
  let chosenNick = null;
  let chosenRoom = null;
  // Answers to /who the page asked for itself are not shown in the log.
  let quietWho = 0;
  const members = new Set();

  function show(text, kind) {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const item = document.createElement("li");
    item.className = kind;
    item.textContent = text;
    log.appendChild(item);
    while (log.childElementCount > KEPT_LINES) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function kindOf(line) {
    if (line.startsWith("!!!")) return "error";
    if (line.startsWith("***")) return "notice";
    if (line.startsWith("[pm")) return "pm";
    return "chat";
  }

  function setStatus(text, up) {
    status.textContent = text;
    status.className = up ? "up" : "down";
  }

  function drawMembers() {
    roomTitle.textContent = room;
    nickLabel.textContent = nick || "…";
    whoList.replaceChildren();
    for (const name of [...members].sort((a, b) => a.localeCompare(b))) {
      const item = document.createElement("li");
      item.textContent = name;
      if (name === nick) item.className = "me";
      whoList.appendChild(item);
    }
  }

  function askWho() {
    quietWho += 1;
    send("/who");
  }

  function send(text) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(text);
      return true;
    }
    return false;
  }

  // Keeps the room, the nick and the member list in step with what the server says.
  function follow(line) {
    let m;
    if ((m = /^\*\*\* welcome! you are (\S+), in room (\S+)\./.exec(line))) {
      nick = m[1];
      room = m[2];
      members.clear();
      if (chosenNick && chosenNick !== nick) send("/nick " + chosenNick);
      if (chosenRoom && chosenRoom !== room) send("/join " + chosenRoom);
      askWho();
    } else if ((m = /^\*\*\* you are now in (\S+)$/.exec(line))) {
      room = chosenRoom = m[1];
      members.clear();
      askWho();
    } else if ((m = /^\*\*\* you are now (\S+)$/.exec(line))) {
      members.delete(nick);
      nick = chosenNick = m[1];
      members.add(nick);
    } else if ((m = /^\*\*\* in (\S+)(?: \(\d+\))?: (.*)$/.exec(line)) && m[1] === room) {
      const names = m[2];
      if (!names.startsWith("(end)") && !names.startsWith("…")) {
        for (const name of names.split(", ")) members.add(name);
      }
      const last = !/^\*\*\* in \S+ \(\d+\):/.test(line);
      if (quietWho > 0) {
        if (last) quietWho -= 1;
        drawMembers();
        return false;
      }
    } else if ((m = /^\*\*\* (\S+) joined (\S+)$/.exec(line)) && m[2] === room) {
      members.add(m[1]);
    } else if ((m = /^\*\*\* (\S+) left (\S+)/.exec(line)) && m[2] === room) {
      members.delete(m[1]);
    } else if ((m = /^\*\*\* (\S+) is now known as (\S+)$/.exec(line))) {
      if (members.delete(m[1])) members.add(m[2]);
    }
    drawMembers();
    return true;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws");
    socket = ws;
    ws.onopen = function () {
      delay = FIRST_DELAY;
      setStatus("connected", true);
    };
    ws.onmessage = function (event) {
      for (const line of String(event.data).split("\n")) {
        if (follow(line)) show(line, kindOf(line));
      }
    };
    ws.onclose = function (event) {
      if (socket !== ws) return;
      socket = null;
      members.clear();
      drawMembers();
      const why = event.code === 1009 ? " (message too big)" : "";
      show("--- disconnected" + why + "; waiting for server…", "local");
      setStatus("waiting for server", false);
      // Backoff with jitter, so a restarted server is not met by every tab at once.
      const wait = delay * (0.75 + Math.random() / 2);
      delay = Math.min(delay * 2, LONGEST_DELAY);
      setTimeout(connect, wait);
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value;
    if (text === "") return;
    if (!send(text)) {
      show("--- not connected; your line was not sent", "local");
      return;
    }
    input.value = "";
    if (!text.startsWith("/") || text.startsWith("//")) {
      const said = text.startsWith("//") ? text.slice(1) : text;
      show("<" + nick + "> " + said, "mine");
    } else if (/^\/me /.test(text)) {
      show("* " + nick + " " + text.slice(4), "mine");
    } else if (/^\/msg \S+ /.test(text)) {
      const m = /^\/msg (\S+) (.*)$/.exec(text);
      show("[pm to " + m[1] + "] " + m[2], "mine");
    } else if (/^\/quit\b/.test(text)) {
      chosenNick = chosenRoom = null;
    }
  });

  setStatus("connecting…", false);
  connect();
})();
