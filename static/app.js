// Natter's only script: everything else is htmx attributes and server fragments.
