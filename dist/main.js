import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as o,c as t,d as m}from"./chunks/chunk-PT5FMDHP.js";import"./chunks/chunk-X5KMLBU2.js";import{m as r}from"./chunks/chunk-G6O4OK2Z.js";import"./chunks/chunk-QJIL2DAA.js";import"./chunks/chunk-67BG23Y2.js";var i=o(process.env);r(i);await m(i,()=>t());
