"""The postback lab: replay a logged postback as a dry run, explain what happened to a click."""
