// The eligibility self-test page: renders the questions from
// GET /api/v1/eligibility/questions and scores with
// POST /api/v1/eligibility/self-test.
"use strict";

const api = "/api/v1/eligibility";
const sources = {
  SOURCE_ANSWER: "your answer",
  SOURCE_FIGURE: "your figure",
  SOURCE_PROGRAMME_DATA: "your programme's data",
};
let questions = [];

const $ = (sel) => document.querySelector(sel);
const el = (tag, { dataset = {}, ...props } = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  Object.assign(e.dataset, dataset);
  e.append(...children);
  return e;
};
const key = (field) => field.replace(/^answers\./, "");

// The API key authenticates every call, as "Authorization: Bearer"; it is
// kept in this tab's session storage only, never in the address.
const keyStorage = "fidelis-api-key";

async function call(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const apiKey = sessionStorage.getItem(keyStorage);
  if (apiKey) {
    headers.set("Authorization", "Bearer " + apiKey);
  }
  const resp = await fetch(api + path, { ...init, headers });
  const body = await resp.json().catch(() => ({ code: "UNKNOWN", message: resp.statusText }));
  if (!resp.ok) {
    throw body;
  }
  return body;
}

function renderQuestions() {
  const list = $("#questions");
  list.replaceChildren();
  questions.forEach((q, i) => {
    const n = i + 1;
    const name = key(q.answerField);
    const choice = (value, label) =>
      el("label", {}, el("input", { type: "radio", name, value, id: `q${n}-${label.toLowerCase().replace(" ", "-")}`, checked: value === "" }), " " + label);
    const fs = el("fieldset", {},
      el("legend", {}, q.text),
      el("div", { className: "choices" }, choice("ANSWER_YES", "Yes"), choice("ANSWER_NO", "No"), choice("", "No answer")));
    if (q.figureField) {
      const id = `q${n}-figure`;
      fs.append(el("div", { className: "figure" },
        el("label", { htmlFor: id }, "or your figure — " + q.figureLabel),
        el("input", { id, name: key(q.figureField), inputMode: "decimal", autocomplete: "off" })));
    }
    const ev = q.evidence;
    if (ev) {
      const kind = ev.answer === "ANSWER_YES" ? "yes" : ev.answer === "ANSWER_NO" ? "no" : "none";
      fs.append(el("p", { className: "evidence " + kind, id: `q${n}-evidence` }, ev.detail + "."));
    }
    fs.append(el("p", { className: "error", id: `q${n}-error`, hidden: true, role: "alert" }));
    list.append(el("li", { id: `q${n}`, dataset: { question: q.question } }, fs));
  });
}

async function loadQuestions() {
  const programme = $("#programme").value.trim();
  const button = $("#load");
  button.disabled = true;
  clearErrors();
  try {
    const r = await call("/questions?programme_id=" + encodeURIComponent(programme));
    questions = r.questions;
    renderQuestions();
    const w = $("#window");
    w.hidden = !r.windowEnd;
    if (r.windowEnd) {
      w.textContent = `Data of programme ${programme}, ${r.windowStart.slice(0, 10)} to ${r.windowEnd.slice(0, 10)}.`;
    }
    const url = new URL(location.href);
    programme ? url.searchParams.set("programme", programme) : url.searchParams.delete("programme");
    history.replaceState(null, "", url);
  } catch (e) {
    showFormError(e);
  } finally {
    button.disabled = false;
  }
}

function clearErrors() {
  document.querySelectorAll("#questions .error").forEach((p) => { p.hidden = true; p.textContent = ""; });
  document.querySelectorAll("#questions > li").forEach((li) => li.classList.remove("invalid"));
  $("#form-error").hidden = true;
}

function showFormError(e) {
  const p = $("#form-error");
  p.textContent = e.message || String(e);
  p.hidden = false;
}

// fieldError shows a message at the question a field belongs to; false
// when no question has that field.
function fieldError(field, message) {
  const i = questions.findIndex((q) => q.answerField === field || q.figureField === field);
  if (i < 0) {
    return false;
  }
  const p = $(`#q${i + 1}-error`);
  p.textContent = p.textContent ? p.textContent + " " + message : message;
  p.hidden = false;
  $(`#q${i + 1}`).classList.add("invalid");
  return true;
}

// answers are what the person gave, as typed: the service checks them
// all and names every problem in one reply.
function answers() {
  const out = {};
  questions.forEach((q) => {
    const picked = document.querySelector(`input[name="${key(q.answerField)}"]:checked`);
    if (picked && picked.value) {
      out[key(q.answerField)] = picked.value;
    }
    if (q.figureField) {
      const v = document.querySelector(`input[name="${key(q.figureField)}"]`).value.trim().replace(",", ".");
      if (v !== "") {
        out[key(q.figureField)] = v;
      }
    }
  });
  return out;
}

function renderResult(r) {
  const section = $("#result");
  const retention = r.verdict === "VERDICT_RETENTION_WITHOUT_CARD";
  section.className = retention ? "retention" : "programme";
  $("#verdict").textContent = retention ? "Work on retention without a card first" : "A loyalty programme makes sense";
  $("#summary").textContent = r.summary;
  $("#findings").replaceChildren(...r.findings.map((f) =>
    el("li", { dataset: { question: f.question } },
      el("strong", {}, f.text), " ",
      el("span", { className: "answer" }, f.answer === "ANSWER_YES" ? "yes" : "no"), " ",
      el("span", { className: "source" }, "(from " + sources[f.source] + ")"),
      el("br"), f.reason + " " + f.implication)));
  section.hidden = false;
  section.scrollIntoView({ behavior: "smooth", block: "start" });
}

async function score(ev) {
  ev.preventDefault();
  clearErrors();
  $("#result").hidden = true;
  const button = $("#score");
  button.disabled = true;
  try {
    const body = { programmeId: $("#programme").value.trim(), answers: answers() };
    renderResult(await call("/self-test", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }));
  } catch (e) {
    // Each problem at its question; any other (the programme, say) above
    // the button, by field.
    const vs = e.violations || [];
    const elsewhere = vs.filter((v) => !fieldError(v.field, v.description)).map((v) => `${v.field}: ${v.description}.`);
    if (!vs.length) {
      showFormError(e);
    } else {
      if (elsewhere.length < vs.length) {
        elsewhere.unshift("Some answers need attention.");
      }
      showFormError(elsewhere.join(" "));
    }
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#programme").value = new URL(location.href).searchParams.get("programme") || "";
  $("#api-key").value = sessionStorage.getItem(keyStorage) || "";
  $("#key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(keyStorage, $("#api-key").value.trim());
    loadQuestions();
  });
  $("#programme-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadQuestions(); });
  $("#test").addEventListener("submit", score);
  loadQuestions();
});
