// Small conveniences only: every page works without JavaScript.
document.addEventListener("click", (event) => {
  const button = event.target.closest(".suggestion");
  if (button) {
    const box = document.getElementById("text");
    box.value = button.dataset.text;
    box.focus();
  }
});
