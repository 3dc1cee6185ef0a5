import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as o,b as m}from"./chunks/chunk-5OVRZ3ZA.js";import{g as t}from"./chunks/chunk-NQCWKI2I.js";import"./chunks/chunk-26O462WK.js";import{u as r}from"./chunks/chunk-JBE6JGMP.js";import"./chunks/chunk-67BG23Y2.js";var i=o(process.env);r(i);await m(i,()=>t());
