"""Options: the option-file loader and checks, the packaged recipes, custom imports, option errors."""
