// Package chart draws the tutorial's comparison of a float32 model and its
// int8 version as three bar-chart panels side by side: size (MB), loss and
// evaluation time (s). Every bar starts at zero, so bar lengths compare as
// the numbers do. PNG and SVG, chosen by the file's extension.
package chart
