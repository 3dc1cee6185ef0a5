import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as o,c as t,d as m}from"./chunks/chunk-QGKASJYI.js";import"./chunks/chunk-WGN77JUX.js";import{l as r}from"./chunks/chunk-ED6XNE53.js";import"./chunks/chunk-ZPB7VUQU.js";import"./chunks/chunk-67BG23Y2.js";var i=o(process.env);r(i);await m(i,()=>t());
