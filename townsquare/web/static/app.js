// Small conveniences only: every page works without JavaScript.
document.addEventListener("click", (event) => {
  if (event.target.closest(".tick-all")) {
    const boxes = [...document.querySelectorAll("input.tick")];
    const tick = boxes.some((box) => !box.checked);
    boxes.forEach((box) => { box.checked = tick; });
    return;
  }
  const button = event.target.closest(".suggestion");
  if (button) {
    event.preventDefault();  // without this script, the button's form asks the server to fill the box
    const box = document.getElementById("text");
    box.value = button.dataset.text;
    document.getElementById("picked").value = button.dataset.id;  // "edited" if the text changes before posting
    box.focus();
  }
});
